//! `GET /api/investigate?kind=principal|ip|accesskey|resource&value=...`: everything one
//! principal, address, access key or resource did. The lake is scanned once for the
//! matching events (the columns an investigation reads, the newest [`MAX_EVENTS`]), and
//! every breakdown is computed over that in memory.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use datafusion::datasource::MemTable;
use detections::engine::PRINCIPAL_SQL as PRINCIPAL;
use serde_json::{Value, json};

use super::{Params, micros, run};
use crate::Console;
use crate::api::alerts::{naming, query_table};
use crate::cells::{counts, integers, quote, strings};
use crate::error::{ApiError, ApiResult};

const KINDS: [&str; 4] = ["principal", "ip", "accesskey", "resource"];
const TABLE: &str = "investigated";
/// The newest matching events an investigation reads (it holds them in memory).
const MAX_EVENTS: usize = 1_000_000;
/// A timeline longer than this is drawn by day instead of by hour.
const HOURLY_UP_TO: i64 = 72 * 3_600_000_000;

pub async fn investigate(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let p = Params::from_uri(&uri, &["kind", "value"])?;
    let kind = p
        .one_of("kind", &KINDS)?
        .ok_or_else(|| ApiError::bad_request("kind is required: principal, ip, accesskey or resource"))?;
    let value = p.text("value").ok_or_else(|| ApiError::bad_request("value is required"))?.to_string();
    let v = quote(&value);
    let (events_where, alerts_where) = match kind.as_str() {
        "principal" => (format!("{PRINCIPAL} = {v}"), format!("a.principal = {v}")),
        "ip" => (format!("sourceipaddress = {v}"), format!("array_has(a.source_ips, {v})")),
        "accesskey" => (format!("useridentity.accesskeyid = {v}"), mentions(&value)),
        _ => (
            format!(
                "eventid IN (SELECT eventid FROM (SELECT eventid, unnest(resources) AS r FROM cloudtrail \
                 WHERE resources IS NOT NULL) WHERE get_field(r, 'arn') = {v})"
            ),
            mentions(&value),
        ),
    };
    let session = console.session().await?;
    let df = session
        .plan_read_only(&format!(
            "SELECT eventtime, eventsource, eventname, awsregion, recipientaccountid, {PRINCIPAL} AS principal, \
                    useridentity.accesskeyid AS accesskeyid, sourceipaddress, useragent, errorcode, eventid \
             FROM cloudtrail WHERE {events_where} ORDER BY eventtime DESC LIMIT {}",
            MAX_EVENTS + 1
        ))
        .await?;
    let schema = df.schema().inner().clone();
    let mut batches = df.collect().await.map_err(|e| session.explain(e))?;
    let truncated = keep_rows(&mut batches, MAX_EVENTS);
    let table = MemTable::try_new(schema, vec![batches]).map_err(|e| ApiError::internal(e.to_string()))?;
    session.context().register_table(TABLE, Arc::new(table)).map_err(|e| ApiError::internal(e.to_string()))?;

    let summary = run(
        &session,
        &format!(
            "SELECT count(*), sum(CASE WHEN errorcode IS NULL THEN 0 ELSE 1 END), min(eventtime), max(eventtime) FROM {TABLE}"
        ),
    )
    .await?;
    let events = integers(&summary, 0)?.first().copied().unwrap_or(0);
    let errors = integers(&summary, 1)?.first().copied().unwrap_or(0);
    let first = strings(&summary, 2)?.into_iter().next().filter(|s| !s.is_empty());
    let last = strings(&summary, 3)?.into_iter().next().filter(|s| !s.is_empty());
    let span = match (first.as_deref().and_then(micros), last.as_deref().and_then(micros)) {
        (Some(f), Some(l)) => l - f,
        _ => 0,
    };
    let bucket = if span <= HOURLY_UP_TO { "hour" } else { "day" };
    let timeline = run(
        &session,
        &format!(
            "SELECT date_trunc('{bucket}', eventtime), count(*), sum(CASE WHEN errorcode IS NULL THEN 0 ELSE 1 END) \
             FROM {TABLE} GROUP BY 1 ORDER BY 1"
        ),
    )
    .await?;
    let timeline: Vec<Value> = strings(&timeline, 0)?
        .into_iter()
        .zip(integers(&timeline, 1)?)
        .zip(integers(&timeline, 2)?)
        .map(|((time, events), errors)| json!({ "time": time, "events": events, "errors": errors }))
        .collect();
    let mut body = json!({
        "kind": kind, "value": value, "events": events, "errors": errors, "truncated": truncated,
        "first_seen": first, "last_seen": last, "bucket": bucket, "timeline": timeline,
    });
    for (key, column) in [
        ("services", "eventsource"),
        ("regions", "awsregion"),
        ("accounts", "recipientaccountid"),
        ("source_ips", "sourceipaddress"),
        ("user_agents", "useragent"),
        ("principals", "principal"),
        ("access_keys", "accesskeyid"),
        ("error_codes", "errorcode"),
        ("event_names", "eventname"),
    ] {
        let sql = format!(
            "SELECT {column}, count(*) FROM {TABLE} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 25"
        );
        body[key] = json!(counts(&run(&session, &sql).await?)?);
    }
    body["calls"] =
        json!(query_table(&session, &format!("SELECT * FROM {TABLE} ORDER BY eventtime DESC LIMIT 500")).await?);
    body["alerts"] = json!(naming(&session, &alerts_where).await?);
    Ok(Json(body))
}

/// Keeps the first `max` rows of `batches`; true when there were more.
fn keep_rows(batches: &mut Vec<arrow::array::RecordBatch>, max: usize) -> bool {
    let mut left = max;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    for b in batches.iter_mut() {
        let take = b.num_rows().min(left);
        *b = b.slice(0, take);
        left -= take;
    }
    batches.retain(|b| b.num_rows() > 0);
    total > max
}

/// Alerts whose dedup key (`column=value,...`) or details (a JSON object) hold `value`
/// whole (an access key or a resource ARN), not as a part of a longer value.
fn mentions(value: &str) -> String {
    let in_key = quote(&format!("={value},"));
    let in_details = quote(&serde_json::Value::from(value).to_string());
    format!("(strpos(',' || a.dedup_key || ',', {in_key}) > 0 OR strpos(a.details, {in_details}) > 0)")
}
