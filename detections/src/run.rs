//! A detection run over the lake: which rows are new (by Delta version, against the
//! watermark kept in the lake's `detection_runs` table), each rule over them (plus its
//! lookback), alerts deduplicated against the lake's `alerts` table and appended to it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use lake::schema::{EVENT_DATE, EVENT_TIME};
use lake::time::{format_canonical, now_micros};
pub use lake::{ALERTS_TABLE, RUNS_TABLE};
use lake::{CLOUDTRAIL_TABLE, Lake, LakeTable, read_table};

use crate::alert::{Alert, to_batch};
use crate::engine::evaluate;
use crate::error::Result;
use crate::rule::Rule;

/// Which rows a run looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Rows committed since the previous incremental run (all rows on the first run).
    Incremental,
    /// Every row in the lake.
    All,
    /// Rows whose `eventtime` is within this many microseconds of now (does not move the
    /// watermark).
    Since(i64),
}

impl Scope {
    /// The name recorded in `detection_runs.scope` and shown to people: `incremental`,
    /// `all` or `since`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Incremental => "incremental",
            Scope::All => "all",
            Scope::Since(_) => "since",
        }
    }

    /// True when a run over this scope covers everything committed up to its version, so
    /// recording it moves the watermark (`--since` does not).
    pub fn moves_watermark(self) -> bool {
        !matches!(self, Scope::Since(_))
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Serialised as its [`Scope::name`], as the `detection_runs` table spells it.
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub scope: Scope,
    /// Table versions covered: (after this version, up to this one].
    pub from_version: Option<u64>,
    pub to_version: u64,
    pub data_files: usize,
    pub rules: usize,
    /// Alerts raised by this run (new ones only).
    pub alerts: Vec<Alert>,
    /// Alerts found again and suppressed because the lake already has them.
    pub duplicates: usize,
    pub seconds: f64,
    /// When the run started (microseconds), recorded as the alerts' `detected_at`.
    #[serde(skip)]
    pub detected_at: i64,
}

/// Runs `rules` once over the lake and returns the new alerts. Nothing is written: hand
/// the summary to [`crate::sink::Sinks::deliver_then_record`], which delivers the alerts and
/// then [`record`]s the run (so a crash in between re-raises them instead of losing them).
pub async fn run(lake: &Lake, rules: &[Rule], scope: Scope) -> Result<RunSummary> {
    let started = Instant::now();
    let now = now_micros();
    let run_id = uuid::Uuid::new_v4().to_string();
    let table = lake.table(CLOUDTRAIL_TABLE).await?;
    let version = table.version().unwrap_or_default();
    let ctx = query::new_context()?;
    table.update_datafusion_session(&ctx.state())?;
    let cloudtrail = LakeTable::try_new(&table)?;
    ctx.register_table(CLOUDTRAIL_TABLE, Arc::new(cloudtrail.clone()))?;

    let watermark = if scope == Scope::Incremental { watermark(lake).await? } else { None };
    let mut data_files = cloudtrail.file_count();
    match (scope, watermark) {
        (Scope::Incremental, Some(w)) => {
            // The same native scan, over the files committed since the watermark.
            let files = added_files(&table, w, version).await?;
            let events = cloudtrail.clone().with_selection(files);
            data_files = events.file_count();
            ctx.register_table("events", Arc::new(events))?;
        }
        (Scope::Since(age), _) => {
            let t = now - age;
            ctx.sql(&format!("CREATE VIEW events AS SELECT * FROM {CLOUDTRAIL_TABLE} WHERE {}", time_filter(t)))
                .await?;
        }
        _ => {
            ctx.sql(&format!("CREATE VIEW events AS SELECT * FROM {CLOUDTRAIL_TABLE}")).await?;
        }
    }
    let min_time = {
        let batches = ctx.sql(&format!("SELECT min({EVENT_TIME}) FROM events")).await?.collect().await?;
        batches.first().and_then(|b| {
            let c = arrow::compute::cast(b.column(0), &lake::schema::timestamp_type()).ok()?;
            let c = c.as_primitive::<TimestampMicrosecondType>();
            (!c.is_empty() && c.is_valid(0)).then(|| c.value(0))
        })
    };

    let mut alerts = Vec::new();
    if let Some(min_time) = min_time {
        for rule in rules {
            let lookback = rule.lookback_micros();
            let history = if lookback > 0 {
                format!("SELECT * FROM {CLOUDTRAIL_TABLE} WHERE {}", time_filter(min_time - lookback))
            } else {
                "SELECT * FROM events".to_string()
            };
            ctx.sql(&format!("CREATE OR REPLACE VIEW history AS {history}")).await?;
            let found = evaluate(&ctx, rule).await?;
            alerts.extend(found);
        }
    }

    // Deduplicate against what the lake already holds.
    let known = known_alert_ids(lake).await?;
    let before = alerts.len();
    let mut seen = HashSet::new();
    alerts.retain(|a| !known.contains(&a.alert_id) && seen.insert(a.alert_id.clone()));
    let duplicates = before - alerts.len();
    alerts.sort_by(|a, b| (a.first_seen_micros, &a.rule_id).cmp(&(b.first_seen_micros, &b.rule_id)));

    let summary = RunSummary {
        run_id: run_id.clone(),
        scope,
        from_version: watermark,
        to_version: version,
        data_files,
        rules: rules.len(),
        alerts,
        duplicates,
        seconds: started.elapsed().as_secs_f64(),
        detected_at: now,
    };
    Ok(summary)
}

/// Writes a run's alerts to the lake's `alerts` table, then its record (and watermark) to
/// `detection_runs`. Alerts first: a crash between the two re-runs the window and the
/// alerts table suppresses the repeats. Call it after delivering the alerts (as
/// [`crate::sink::Sinks::deliver_then_record`] does), never before.
pub async fn record(lake: &Lake, summary: &RunSummary) -> Result<()> {
    if !summary.alerts.is_empty() {
        lake.append(ALERTS_TABLE, vec![to_batch(&summary.alerts, summary.detected_at, &summary.run_id)?]).await?;
    }
    lake.append(RUNS_TABLE, vec![run_record(summary)?]).await?;
    Ok(())
}

/// `eventtime >= t`, with the matching `eventdate` bound so whole days are pruned.
fn time_filter(t: i64) -> String {
    let day = format_canonical(t.div_euclid(86_400_000_000) * 86_400_000_000);
    format!("{EVENT_DATE} >= DATE '{}' AND {EVENT_TIME} >= TIMESTAMP '{}'", &day[..10], format_canonical(t))
}

/// The last version covered by an incremental (or full) run.
async fn watermark(lake: &Lake) -> Result<Option<u64>> {
    let Some(t) = lake.try_table(RUNS_TABLE).await? else { return Ok(None) };
    let b = read_table(&t, "SELECT max(to_version) FROM t").await?;
    Ok(b.first().and_then(|b| {
        let c = arrow::compute::cast(b.column(0), &DataType::Int64).ok()?;
        let c = c.as_primitive::<arrow::datatypes::Int64Type>();
        (!c.is_empty() && c.is_valid(0)).then(|| c.value(0) as u64)
    }))
}

async fn known_alert_ids(lake: &Lake) -> Result<HashSet<String>> {
    let Some(t) = lake.try_table(ALERTS_TABLE).await? else { return Ok(HashSet::new()) };
    let mut out = HashSet::new();
    for b in read_table(&t, "SELECT alert_id FROM t").await? {
        let c = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        out.extend(c.as_string::<i32>().iter().flatten().map(String::from));
    }
    Ok(out)
}

/// Data files added by commits in (`after`, `to`]. Files that OPTIMIZE rewrote are
/// followed: when a compaction removed a file added in the range, its replacement counts.
async fn added_files(table: &deltalake::DeltaTable, after: u64, to: u64) -> Result<Vec<String>> {
    let mut added: Vec<String> = Vec::new();
    let mut in_range: HashSet<String> = HashSet::new();
    for v in after + 1..=to {
        let Some(bytes) = table.log_store().read_commit_entry(v).await? else { continue };
        let mut adds = Vec::new();
        let mut removed_ours = false;
        let mut data_change = false;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(action) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
            if let Some(a) = action.get("add") {
                let path = a["path"].as_str().unwrap_or_default().to_string();
                data_change |= a["dataChange"].as_bool().unwrap_or(true);
                adds.push(path);
            } else if let Some(r) = action.get("remove") {
                removed_ours |= in_range.contains(r["path"].as_str().unwrap_or_default());
            }
        }
        if data_change || removed_ours {
            for p in adds {
                in_range.insert(p.clone());
                added.push(p);
            }
        }
    }
    Ok(added)
}

/// One row of `detection_runs`. A `--since` run did not cover everything committed, so it
/// records no `to_version` and leaves the watermark where it was.
fn run_record(s: &RunSummary) -> Result<RecordBatch> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
    let to_version = s.scope.moves_watermark().then_some(s.to_version as i64);
    let columns: [(&str, ArrayRef, bool); 8] = [
        ("run_id", Arc::new(StringArray::from(vec![s.run_id.as_str()])), false),
        ("finished_at", Arc::new(TimestampMicrosecondArray::from(vec![s.detected_at]).with_timezone("UTC")), false),
        ("scope", Arc::new(StringArray::from(vec![s.scope.name()])), false),
        ("from_version", Arc::new(Int64Array::from(vec![s.from_version.map(|v| v as i64)])), true),
        ("to_version", Arc::new(Int64Array::from(vec![to_version])), true),
        ("rules", Arc::new(Int64Array::from(vec![s.rules as i64])), false),
        ("alerts", Arc::new(Int64Array::from(vec![s.alerts.len() as i64])), false),
        ("seconds", Arc::new(Float64Array::from(vec![s.seconds])), false),
    ];
    Ok(RecordBatch::try_from_iter_with_nullable(columns)?)
}
