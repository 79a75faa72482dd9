//! Evaluating one rule: run its SQL over `events` / `history`, apply its threshold, and
//! fold the matches into deduplicated alerts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::util::display::ArrayFormatter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use lake::schema::{
    AWS_REGION, EVENT_ID, EVENT_NAME, EVENT_TIME, RECIPIENT_ACCOUNT_ID, SOURCE_IP_ADDRESS, USER_IDENTITY_COL,
};

use crate::alert::{Alert, MAX_EVENT_IDS, rfc3339, stable_id};
use crate::error::{DetectError, Result};
use crate::rule::{Rule, duration_micros};

/// The column the engine adds to every rule's result: `principal(useridentity)`, the
/// actor's readable name (not a lake column).
const PRINCIPAL: &str = "principal";

/// One matched event.
#[derive(Debug, Clone)]
struct Hit {
    time: i64,
    eventid: String,
    principal: Option<String>,
    ip: Option<String>,
    account: Option<String>,
    region: Option<String>,
    eventname: Option<String>,
    key: Vec<String>,
    details: serde_json::Map<String, serde_json::Value>,
}

/// Runs `rule` in `ctx` (which has `events` and `history` registered) and returns its
/// alerts, deduplicated within this evaluation.
pub async fn evaluate(ctx: &SessionContext, rule: &Rule) -> Result<Vec<Alert>> {
    let sql_err =
        |e: datafusion::error::DataFusionError| DetectError::Sql { rule: rule.id.clone(), message: e.to_string() };
    let sql = rule.sql.trim().trim_end_matches(';');
    // A rule over events names the actor; one over the lake's own records (`integrity`,
    // the ledger) has no `useridentity`.
    let about_events =
        ctx.sql(sql).await.map_err(sql_err)?.schema().has_column_with_unqualified_name(USER_IDENTITY_COL);
    let actor = if about_events { format!("principal({USER_IDENTITY_COL})") } else { "CAST(NULL AS VARCHAR)".into() };
    let wrapped = format!("SELECT {actor} AS {PRINCIPAL}, matched.* FROM ({sql}) AS matched");
    // Streamed: only the hits' few fields are kept, not the matched rows' every column.
    let started = std::time::Instant::now();
    let mut stream = ctx.sql(&wrapped).await.map_err(sql_err)?.execute_stream().await.map_err(sql_err)?;
    let mut all = Vec::new();
    while let Some(batch) = stream.next().await {
        all.extend(hits(&[batch.map_err(sql_err)?], rule)?);
    }
    tracing::debug!(rule = %rule.id, matched = all.len(), seconds = started.elapsed().as_secs_f64(), "rule evaluated");
    Ok(fold(rule, all))
}

/// The lake's own column names: any other column a rule returns is an alert detail.
static LAKE_COLUMNS: LazyLock<HashSet<String>> =
    LazyLock::new(|| lake::schema::cloudtrail_schema().fields().iter().map(|f| f.name().clone()).collect());

fn hits(batches: &[RecordBatch], rule: &Rule) -> Result<Vec<Hit>> {
    let known = &*LAKE_COLUMNS;
    let mut out = Vec::new();
    for b in batches {
        let text = |name: &str| -> Result<Option<Vec<Option<String>>>> {
            let Some(col) = b.column_by_name(name) else { return Ok(None) };
            Ok(Some(as_text(col)?))
        };
        let (Some(ids), Some(times)) = (text(EVENT_ID)?, b.column_by_name(EVENT_TIME)) else {
            return Err(DetectError::Sql {
                rule: rule.id.clone(),
                message: "the SQL must return eventid and eventtime (e.g. SELECT * FROM events ...)".into(),
            });
        };
        let times = cast(times, &lake::schema::timestamp_type())?;
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let principal = text(PRINCIPAL)?;
        let ip = text(SOURCE_IP_ADDRESS)?;
        let account = text(RECIPIENT_ACCOUNT_ID)?;
        let region = text(AWS_REGION)?;
        let eventname = text(EVENT_NAME)?;
        let mut keys = Vec::new();
        for k in &rule.dedup.key {
            keys.push(text(k)?.ok_or_else(|| DetectError::Sql {
                rule: rule.id.clone(),
                message: format!("dedup key column {k} is not in the result"),
            })?);
        }
        let extras: Vec<(String, Vec<Option<String>>)> = b
            .schema()
            .fields()
            .iter()
            .filter(|f| !known.contains(f.name()) && f.name() != PRINCIPAL)
            .map(|f| Ok((f.name().clone(), as_text(b.column_by_name(f.name()).expect("listed"))?)))
            .collect::<Result<_>>()?;
        let get = |v: &Option<Vec<Option<String>>>, i: usize| v.as_ref().and_then(|v| v[i].clone());
        for i in 0..b.num_rows() {
            let mut details = serde_json::Map::new();
            for (name, values) in &extras {
                details
                    .insert(name.clone(), values[i].clone().map_or(serde_json::Value::Null, serde_json::Value::String));
            }
            out.push(Hit {
                time: if times.is_null(i) { 0 } else { times.value(i) },
                eventid: ids[i].clone().unwrap_or_default(),
                principal: get(&principal, i),
                ip: get(&ip, i),
                account: get(&account, i),
                region: get(&region, i),
                eventname: get(&eventname, i),
                key: keys.iter().map(|k| k[i].clone().unwrap_or_default()).collect(),
                details,
            });
        }
    }
    Ok(out)
}

fn as_text(col: &dyn Array) -> Result<Vec<Option<String>>> {
    let f = ArrayFormatter::try_new(col, &Default::default())?;
    Ok((0..col.len()).map(|i| col.is_valid(i).then(|| f.value(i).to_string())).collect())
}

/// Thresholds, then one alert per (key, dedup window).
fn fold(rule: &Rule, mut hits: Vec<Hit>) -> Vec<Alert> {
    hits.sort_by(|a, b| (&a.key, a.time, &a.eventid).cmp(&(&b.key, b.time, &b.eventid)));
    hits.dedup_by(|a, b| a.eventid == b.eventid && a.key == b.key);
    let window = rule.dedup_window();
    // (key, bucket) -> indexes of the hits in that alert.
    let mut groups: BTreeMap<(Vec<String>, i64), BTreeSet<usize>> = BTreeMap::new();
    match &rule.threshold {
        None => {
            for (i, h) in hits.iter().enumerate() {
                groups.entry((h.key.clone(), h.time.div_euclid(window))).or_default().insert(i);
            }
        }
        Some(t) => {
            let span = duration_micros(&t.window).unwrap_or(0);
            // Hits are sorted by key then time: slide a window over each key's run.
            let mut start = 0;
            for end in 0..hits.len() {
                if end > 0 && hits[end].key != hits[end - 1].key {
                    start = end;
                }
                while hits[end].time - hits[start].time > span {
                    start += 1;
                }
                if end + 1 - start >= t.count {
                    let bucket = hits[end].time.div_euclid(window);
                    groups.entry((hits[end].key.clone(), bucket)).or_default().extend(start..=end);
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|((key, bucket), idx)| {
            let members: Vec<&Hit> = idx.iter().map(|&i| &hits[i]).collect();
            let set = |f: &dyn Fn(&Hit) -> Option<String>| -> Vec<String> {
                members.iter().filter_map(|h| f(h)).collect::<BTreeSet<_>>().into_iter().collect()
            };
            let first = members.iter().map(|h| h.time).min().unwrap_or(0);
            let last = members.iter().map(|h| h.time).max().unwrap_or(0);
            let dedup_key =
                rule.dedup.key.iter().zip(&key).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let mut parts: Vec<&str> = vec![rule.id.as_str()];
            parts.extend(key.iter().map(String::as_str));
            let bucket_text = bucket.to_string();
            parts.push(&bucket_text);
            Alert {
                alert_id: stable_id(&parts),
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                dedup_key,
                principal: members.iter().find_map(|h| h.principal.clone()),
                source_ips: set(&|h| h.ip.clone()),
                accounts: set(&|h| h.account.clone()),
                regions: set(&|h| h.region.clone()),
                event_names: set(&|h| h.eventname.clone()),
                event_ids: members.iter().take(MAX_EVENT_IDS).map(|h| h.eventid.clone()).collect(),
                events: members.len() as u64,
                first_seen: rfc3339(first),
                last_seen: rfc3339(last),
                first_seen_micros: first,
                last_seen_micros: last,
                details: members.first().map(|h| h.details.clone()).unwrap_or_default(),
                mitre: rule.mitre.clone(),
                controls: rule.controls.clone(),
                triage: rule.triage.clone(),
            }
        })
        .collect()
}
