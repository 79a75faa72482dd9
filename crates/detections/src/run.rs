//! A detection run over the lake: which rows are new (by Delta version, against the
//! watermark kept in the lake's `detection_runs` table), each rule over them (plus its
//! lookback), alerts deduplicated against the lake's `alerts` table and appended to it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use lake::schema::{EVENT_DATE, EVENT_TIME};
use lake::time::{format_canonical, now_micros};
pub use lake::{ALERTS_TABLE, RUNS_TABLE};
use lake::{CLOUDTRAIL_TABLE, Lake, LakeTable, read_table};

use crate::alert::{Alert, to_batch};
use crate::baseline::{self, Keeper};
use crate::engine::{evaluate, evaluate_filters};
use crate::error::Result;
use crate::rule::Rule;

/// New data up to this size (Parquet bytes, ~300,000 events) is read into memory once
/// per run instead of once per rule (159 scans of the same file).
const IN_MEMORY_BYTES: u64 = 32 << 20;

/// How far back integrity rules look at the lake's `integrity` table and ledger.
const RECORDS_WINDOW_MICROS: i64 = 2 * 86_400_000_000;

/// Registers a table of the lake's own records as `name`: its rows with `time_column` at or
/// after `since` (all with `None`), or no rows when the lake lacks the table.
async fn register_records(
    lake: &Lake,
    ctx: &datafusion::prelude::SessionContext,
    name: &str,
    schema: &arrow::datatypes::SchemaRef,
    time_column: &str,
    since: Option<i64>,
) -> Result<()> {
    let Some(table) = lake.try_table(name).await? else {
        ctx.register_table(name, Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?))?;
        return Ok(());
    };
    let stored = format!("{name}_stored");
    let provider = LakeTable::try_new(&table)?;
    // A table written by an older build may lack columns (a ledger from before integrity
    // validation): they read as nulls, so the rules over it still plan.
    let have = provider.schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| match have.field_with_name(f.name()) {
            Ok(_) => format!("\"{}\"", f.name()),
            Err(_) => format!("arrow_cast(NULL, '{}') AS \"{}\"", f.data_type(), f.name()),
        })
        .collect();
    ctx.register_table(stored.as_str(), Arc::new(provider))?;
    let filter = if have.field_with_name(time_column).is_err() {
        // Nothing written by this build yet: no rows in the window.
        " WHERE false".to_string()
    } else {
        since.map_or(String::new(), |t| format!(" WHERE {time_column} >= TIMESTAMP '{}'", format_canonical(t)))
    };
    ctx.sql(&format!("CREATE VIEW {name} AS SELECT {} FROM {stored}{filter}", columns.join(", "))).await?;
    Ok(())
}

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

/// How a run behaves beyond its rules and scope.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Alerts about one identity this close together are one incident ([`crate::incident`]).
    pub incident_window_micros: i64,
    /// A backtest: every alert the rules would raise, those the lake already holds too, and
    /// no incidents (nothing of it is to be recorded).
    pub backtest: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { incident_window_micros: crate::incident::DEFAULT_WINDOW_MICROS, backtest: false }
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
    /// Of `alerts`, how many an exception suppressed (recorded, never delivered).
    pub suppressed: usize,
    /// Of `alerts`, how many rules in shadow mode raised (recorded, never delivered).
    pub shadow: usize,
    /// The incidents of every identity this run's alerts name, recomputed (stored by
    /// [`record`] before the alerts).
    pub incidents: crate::incident::Incidents,
    pub seconds: f64,
    /// When the run started (microseconds), recorded as the alerts' `detected_at`.
    #[serde(skip)]
    pub detected_at: i64,
    /// What the run's baselines saw, appended to the `baselines` table by [`record`].
    #[serde(skip)]
    pub baseline_facts: Vec<RecordBatch>,
    /// Matches that rules' `resolve` SQL says have turned out fine: [`record`] closes the
    /// open alerts about them.
    pub resolved: Vec<Resolution>,
}

/// One match a rule's `resolve` SQL reports as fine now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolution {
    pub rule_id: String,
    pub eventid: String,
    pub note: String,
}

/// Runs `rules` once over the lake and returns the new alerts. Nothing is written: hand
/// the summary to [`crate::sink::Sinks::deliver_then_record`], which delivers the alerts and
/// then [`record`]s the run (so a crash in between re-raises them instead of losing them).
pub async fn run(lake: &Lake, rules: &[Rule], scope: Scope) -> Result<RunSummary> {
    run_in(query::new_context()?, lake, rules, scope, &RunOptions::default()).await
}

/// [`run`] with the rules' SQL planned and run in `ctx`: a context from
/// [`query::new_context`], or one whose plans run elsewhere (a cluster's client context
/// with the query crate's functions registered), which gives the same alerts.
///
/// Its log lines carry a `detect` span with the run id the alerts and the `detection_runs`
/// row record.
pub async fn run_in(
    ctx: datafusion::prelude::SessionContext,
    lake: &Lake,
    rules: &[Rule],
    scope: Scope,
    options: &RunOptions,
) -> Result<RunSummary> {
    use tracing::Instrument;
    let run_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("detect", run = %run_id);
    run_with_id(ctx, lake, rules, scope, options, run_id).instrument(span).await
}

async fn run_with_id(
    ctx: datafusion::prelude::SessionContext,
    lake: &Lake,
    rules: &[Rule],
    scope: Scope,
    options: &RunOptions,
    run_id: String,
) -> Result<RunSummary> {
    let started = Instant::now();
    let now = now_micros();
    let table = lake.table(CLOUDTRAIL_TABLE).await?;
    let version = table.version().unwrap_or_default();
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
            if events.bytes() <= IN_MEMORY_BYTES {
                // A scheduled run's few minutes of data: read once, not once per rule.
                let batches = ctx.read_table(Arc::new(events.clone()))?.collect().await?;
                let schema = events.schema();
                let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); 2];
                for (i, b) in batches.into_iter().enumerate() {
                    parts[i % 2].push(b);
                }
                ctx.register_table("events", Arc::new(MemTable::try_new(schema, parts)?))?;
            } else {
                ctx.register_table("events", Arc::new(events))?;
            }
        }
        (Scope::Since(age), _) => {
            let t = now - age;
            ctx.sql(&format!(
                "CREATE VIEW events AS SELECT * FROM {CLOUDTRAIL_TABLE} WHERE {EVENT_TIME} >= TIMESTAMP '{}' \
                 AND {EVENT_DATE} >= DATE '{}'",
                format_canonical(t),
                &format_canonical(t.div_euclid(86_400_000_000) * 86_400_000_000)[..10]
            ))
            .await?;
        }
        _ => {
            ctx.sql(&format!("CREATE VIEW events AS SELECT * FROM {CLOUDTRAIL_TABLE}")).await?;
        }
    }
    let span = {
        let batches =
            ctx.sql(&format!("SELECT min({EVENT_TIME}), max({EVENT_TIME}) FROM events")).await?.collect().await?;
        batches.first().and_then(|b| {
            let micros = |i: usize| {
                let c = arrow::compute::cast(b.column(i), &lake::schema::timestamp_type()).ok()?;
                let c = c.as_primitive::<TimestampMicrosecondType>();
                (!c.is_empty() && c.is_valid(0)).then(|| c.value(0))
            };
            Some((micros(0)?, micros(1)?))
        })
    };

    // The lake's own records, for integrity rules: their rows of the last two days (all of
    // them for --all); what was alerted on before is deduplicated like any alert.
    let recent = if scope == Scope::All { None } else { Some(now - RECORDS_WINDOW_MICROS) };
    register_records(lake, &ctx, lake::INTEGRITY_TABLE, &lake::integrity::integrity_schema(), "checked_at", recent)
        .await?;
    register_records(lake, &ctx, lake::LEDGER_TABLE, &lake::ledger::ledger_schema(), "verified_at", recent).await?;

    let read_stored = scope == Scope::Incremental && watermark.is_some();
    let mut baselines = Keeper::open(lake, &ctx, read_stored, scope.moves_watermark(), now).await?;
    let mut alerts = Vec::new();
    // Rules over the lake's own records (digests checked, the ledger) run whether or not
    // events arrived: a digest run alone (its log files deleted) must still be judged.
    let (over_records, over_events): (Vec<&Rule>, Vec<&Rule>) = rules.iter().partition(|r| !r.reads_events());
    for rule in over_records {
        alerts.extend(evaluate(&ctx, rule).await?);
    }
    if let Some((min_time, max_time)) = span {
        // Rules that are a bare condition over `events` (compiled Sigma detections) share
        // one scan; the others run one by one.
        let (together, alone): (Vec<&Rule>, Vec<&Rule>) = over_events.into_iter().partition(|r| {
            r.sigma.as_ref().is_some_and(|s| s.filter.is_some()) && r.threshold.is_none() && !r.is_stateful()
        });
        if !together.is_empty() {
            ctx.sql("CREATE OR REPLACE VIEW history AS SELECT * FROM events").await?;
            alerts.extend(evaluate_filters(&ctx, &together).await?);
        }
        for rule in alone {
            let lookback = rule.lookback_micros();
            // The lookback on both sides of the run's rows: rows long after them do not
            // matter to a rule about what came before (a backfill of an old day must not
            // read every day since), while a late file still meets its neighbours.
            let history = if lookback > 0 {
                format!(
                    "SELECT * FROM {CLOUDTRAIL_TABLE} WHERE {}",
                    time_filter(min_time - lookback, max_time.saturating_add(lookback))
                )
            } else {
                "SELECT * FROM events".to_string()
            };
            ctx.sql(&format!("CREATE OR REPLACE VIEW history AS {history}")).await?;
            baselines.register(&ctx, rule, min_time - lookback).await?;
            let found = evaluate(&ctx, rule).await?;
            alerts.extend(found);
        }
    }

    // What rules say has turned out fine since they alerted on it.
    let mut resolved = Vec::new();
    for rule in rules {
        let Some(sql) = &rule.resolve else { continue };
        for batch in ctx.sql(sql).await?.collect().await? {
            let text = |name: &str| {
                batch.column_by_name(name).and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).ok())
            };
            let (Some(ids), Some(notes)) = (text("eventid"), text("note")) else {
                return Err(crate::error::DetectError::Sql {
                    rule: rule.id.clone(),
                    message: "its resolve SQL must return the columns eventid and note".into(),
                });
            };
            let (ids, notes) = (ids.as_string::<i32>(), notes.as_string::<i32>());
            resolved.extend((0..batch.num_rows()).filter(|&i| ids.is_valid(i)).map(|i| Resolution {
                rule_id: rule.id.clone(),
                eventid: ids.value(i).to_string(),
                note: if notes.is_valid(i) { notes.value(i).to_string() } else { "resolved".to_string() },
            }));
        }
    }

    // Deduplicate against what the lake already holds.
    let known = if options.backtest { HashSet::new() } else { known_alert_ids(lake).await? };
    let before = alerts.len();
    let mut seen = HashSet::new();
    alerts.retain(|a| !known.contains(&a.alert_id) && seen.insert(a.alert_id.clone()));
    let mut duplicates = before - alerts.len();
    // A rule the settings limit to some accounts (or exclude from some) keeps only its
    // alerts there.
    alerts.retain(|a| rules.iter().find(|r| r.id == a.rule_id).is_none_or(|r| r.scope.admits(&a.accounts)));
    // Exceptions first: an alert judged benign is recorded as suppressed and joins no
    // incident.
    let exceptions = crate::exception::load(lake).await?;
    crate::exception::apply(&exceptions, &mut alerts, now, Some(&ctx)).await?;
    // The incidents of the identities these alerts name, and the attack sequences they
    // raise (new ones only: a rerun's sequence alert is already in the lake).
    let grouping = Instant::now();
    let incidents = if options.backtest {
        crate::incident::Incidents::default()
    } else {
        crate::incident::assemble(lake, &alerts, options.incident_window_micros).await?
    };
    tracing::debug!(
        incidents = incidents.incidents.len(),
        seconds = grouping.elapsed().as_secs_f64(),
        "Incidents grouped."
    );
    for sequence in incidents.incidents.iter().filter_map(crate::incident::sequence_alert) {
        if known.contains(&sequence.alert_id) {
            duplicates += 1;
        } else {
            alerts.push(sequence);
        }
    }
    crate::exception::apply(&exceptions, &mut alerts, now, Some(&ctx)).await?;
    let suppressed = alerts.iter().filter(|a| a.suppressed_by.is_some()).count();
    let shadow = alerts.iter().filter(|a| a.shadow && a.suppressed_by.is_none()).count();
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
        suppressed,
        shadow,
        incidents,
        seconds: started.elapsed().as_secs_f64(),
        detected_at: now,
        baseline_facts: baselines.into_facts(),
        resolved,
    };
    Ok(summary)
}

/// Writes a run's alerts to the lake's `alerts` table, then its record (and watermark) to
/// `detection_runs`. Alerts first: a crash between the two re-runs the window and the
/// alerts table suppresses the repeats. Call it after delivering the alerts (as
/// [`crate::sink::Sinks::deliver_then_record`] does), never before.
pub async fn record(lake: &Lake, summary: &RunSummary) -> Result<()> {
    // Incidents first: a crash before the alerts are written re-raises the same alerts,
    // which recompute the same incidents (same ids) and replace these rows.
    crate::incident::store(lake, &summary.incidents, summary.detected_at, &summary.run_id).await?;
    if !summary.alerts.is_empty() {
        // An alerts table written before `references`, `author` and `license` gains them.
        if lake.try_table(ALERTS_TABLE).await?.is_some() {
            lake.evolve_table(ALERTS_TABLE, &crate::alert::ALERT_SCHEMA).await?;
        }
        lake.append(ALERTS_TABLE, vec![to_batch(&summary.alerts, summary.detected_at, &summary.run_id)?]).await?;
        lake::failpoint::hit("detect.alerts-recorded");
    }
    // Alerts about what has turned out fine are closed before the watermark moves: a
    // crash in between finds them again and closes the ones still open.
    if !summary.resolved.is_empty() {
        let closed = crate::triage::close_resolved(lake, &summary.resolved).await?;
        if closed > 0 {
            tracing::info!(alerts = closed, "Closed alerts whose cause has resolved itself.");
        }
    }
    // Facts before the watermark moves: a crash in between appends them again on the
    // re-run, which the min/max readers take in their stride.
    baseline::store(lake, summary.baseline_facts.clone()).await?;
    lake.append(RUNS_TABLE, vec![run_record(summary)?]).await?;
    Ok(())
}

/// `from <= eventtime <= to`, with the matching `eventdate` bounds so whole days are pruned.
fn time_filter(from: i64, to: i64) -> String {
    let day = |t: i64| format_canonical(t.div_euclid(86_400_000_000) * 86_400_000_000)[..10].to_string();
    format!(
        "{EVENT_DATE} BETWEEN DATE '{}' AND DATE '{}' AND {EVENT_TIME} BETWEEN TIMESTAMP '{}' AND TIMESTAMP '{}'",
        day(from),
        day(to),
        format_canonical(from),
        format_canonical(to)
    )
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
