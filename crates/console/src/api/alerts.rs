//! `GET /api/alerts`, `GET /api/alerts/{id}` and `POST /api/alerts/{id}/triage`: the
//! `alerts` table newest first with each alert's triage state, one alert with its rule and
//! events, and the one write the console makes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use detections::engine::PRINCIPAL_SQL as PRINCIPAL;
use detections::triage::{TriageChange, TriageState};
use lake::{ALERTS_TABLE, TRIAGE_TABLE};
use serde_json::{Map, Value, json};

use super::{Params, date_literal, has_table, micros, run};
use crate::Console;
use crate::cells::{Table, quote, strings, table};
use crate::error::{ApiError, ApiResult};

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];
const STATES: [&str; 3] = ["open", "acknowledged", "closed"];

/// The columns of an alert in the list.
const LIST_COLUMNS: &str = "a.alert_id, a.rule_id, a.title, a.severity, a.first_seen, a.last_seen, a.events, \
                            a.principal, a.accounts, a.source_ips, a.regions, coalesce(t.state, 'open') AS state";

/// `alerts a` with `t`, each alert's newest triage state (none before the first triage).
async fn with_state(session: &query::LakeSession) -> ApiResult<String> {
    Ok(detections::triage::alerts_with_state(has_table(session, TRIAGE_TABLE).await?))
}

pub async fn list(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let p =
        Params::from_uri(&uri, &["severity", "rule", "account", "principal", "state", "delivery", "limit", "offset"])?;
    let mut filters = vec!["true".to_string()];
    if let Some(s) = p.one_of("severity", &SEVERITIES)? {
        filters.push(format!("a.severity = {}", quote(&s)));
    }
    if let Some(s) = p.one_of("state", &STATES)? {
        filters.push(format!("coalesce(t.state, 'open') = {}", quote(&s)));
    }
    if let Some(r) = p.text("rule") {
        filters.push(format!("a.rule_id = {}", quote(r)));
    }
    if let Some(a) = p.text("account") {
        filters.push(format!("array_has(a.accounts, {})", quote(a)));
    }
    if let Some(who) = p.text("principal") {
        filters.push(format!("a.principal = {}", quote(who)));
    }
    let limit = p.number("limit", 100, 1..=1000)?;
    let offset = p.number("offset", 0, 0..=1_000_000_000)?;
    let session = console.session().await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        return Ok(Json(json!({ "total": 0, "alerts": [], "rules": [], "severities": SEVERITIES })));
    }
    // Alerts an exception suppressed or a shadow rule raised are recorded, not delivered:
    // apart by default, shown with delivery=undelivered, counted per rule either way.
    let undelivered = undelivered_condition(&session).await;
    let delivery = p.one_of("delivery", &["delivered", "undelivered"])?;
    filters.push(if delivery.as_deref() == Some("undelivered") {
        undelivered.clone()
    } else {
        format!("NOT {undelivered}")
    });
    let from = with_state(&session).await?;
    let filter = filters.join(" AND ");
    let total = super::count(&session, &format!("SELECT count(*) FROM {from} WHERE {filter}")).await?;
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM {from} WHERE {filter} ORDER BY a.last_seen DESC, a.alert_id LIMIT {limit} OFFSET {offset}"
    );
    let alerts = objects(&query_table(&session, &sql).await?);
    let rules = strings(&run(&session, "SELECT DISTINCT rule_id FROM alerts ORDER BY 1").await?, 0)?;
    let not_delivered = objects(
        &query_table(
            &session,
            &format!(
                "SELECT a.rule_id, count(*) FILTER (WHERE {s}) AS suppressed, count(*) FILTER (WHERE NOT {s}) AS shadow \
                 FROM alerts a WHERE {undelivered} GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1",
                s = if undelivered == "false" { "false" } else { "a.suppressed_by IS NOT NULL" }
            ),
        )
        .await?,
    );
    Ok(Json(json!({
        "total": total, "alerts": alerts, "rules": rules, "severities": SEVERITIES, "not_delivered": not_delivered,
    })))
}

/// SQL true for an alert that was not delivered (an exception suppressed it, or its rule is
/// in shadow mode); `false` over an alerts table from before both.
async fn undelivered_condition(session: &query::LakeSession) -> String {
    let has = |c: &'static str| async move { session.sql(&format!("SELECT {c} FROM alerts LIMIT 0")).await.is_ok() };
    match (has("suppressed_by").await, has("shadow").await) {
        (true, true) => "(a.suppressed_by IS NOT NULL OR coalesce(a.shadow, false))".into(),
        (true, false) => "(a.suppressed_by IS NOT NULL)".into(),
        _ => "false".into(),
    }
}

/// `POST /api/alerts/triage`: one state and note for many alerts (`{"ids": [...], "state":
/// ..., "note": ...}`), recorded in one commit; an unknown id refuses the whole request.
pub async fn bulk_triage(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let request = super::json_body(&headers, &body)?;
    let ids: Vec<String> = request
        .get("ids")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::bad_request("the body needs \"ids\": the alerts to change"));
    }
    if ids.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 alerts at once"));
    }
    let (state, note) = state_and_note(&request)?;
    let changes = ids.iter().map(|id| TriageChange::now(id, state, note)).collect::<Result<Vec<_>, _>>()?;
    let session = console.session().await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        return Err(ApiError::not_found("the lake has no alerts yet (run `trailhouse detect`)"));
    }
    let list = ids.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", ");
    let known =
        strings(&run(&session, &format!("SELECT DISTINCT alert_id FROM alerts WHERE alert_id IN ({list})")).await?, 0)?;
    if let Some(missing) = ids.iter().find(|i| !known.contains(i)) {
        return Err(ApiError::not_found(format!("no alert {missing}")));
    }
    detections::triage::record_all(&console.lake, &changes).await?;
    tracing::info!(alerts = changes.len(), state = state.as_str(), "alerts triaged in bulk");
    Ok(Json(json!({ "changed": changes.len(), "state": state.as_str() })))
}

/// The alerts that name a principal, IP or other value (for an investigation).
pub(crate) async fn naming(session: &query::LakeSession, condition: &str) -> ApiResult<Vec<Map<String, Value>>> {
    if !has_table(session, ALERTS_TABLE).await? {
        return Ok(vec![]);
    }
    let from = with_state(session).await?;
    let sql = format!("SELECT {LIST_COLUMNS} FROM {from} WHERE {condition} ORDER BY a.last_seen DESC LIMIT 200");
    Ok(objects(&query_table(session, &sql).await?))
}

pub async fn one(
    State(console): State<Arc<Console>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let id = super::path_id(id)?;
    let session = console.session().await?;
    let mut alert = find(&session, &id).await?;
    if let Some(Value::String(details)) = alert.get("details") {
        let parsed = serde_json::from_str(details).unwrap_or(Value::Null);
        alert.insert("details".into(), parsed);
    }
    let rule_id = alert.get("rule_id").and_then(Value::as_str).unwrap_or_default();
    let rule = console.config.rules.iter().find(|r| r.id == rule_id).map(|r| {
        json!({
            "id": r.id, "title": r.title, "severity": r.severity.as_str(), "description": r.description,
            "triage": r.triage, "mitre": r.mitre, "references": r.references,
        })
    });
    let events = events_of(&session, &alert).await?;
    let triage = triage_of(&session, &id).await?;
    Ok(Json(json!({ "alert": alert, "rule": rule, "events": events, "triage": triage })))
}

pub async fn triage(
    State(console): State<Arc<Console>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = super::path_id(id)?;
    let request = super::json_body(&headers, &body)?;
    let (state, note) = state_and_note(&request)?;
    let change = TriageChange::now(&id, state, note)?;
    let session = console.session().await?;
    find(&session, &id).await?;
    detections::triage::record(&console.lake, &change).await?;
    tracing::info!(alert = %id, state = state.as_str(), "alert triaged");
    let session = console.session().await?;
    Ok(Json(triage_of(&session, &id).await?))
}

/// A triage request's `state` (required) and `note`.
fn state_and_note(request: &Value) -> ApiResult<(TriageState, Option<&str>)> {
    let state = request
        .get("state")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("the body needs \"state\": open, acknowledged or closed"))?;
    Ok((state.parse().map_err(ApiError::bad_request)?, request.get("note").and_then(Value::as_str)))
}

/// The alert's row, or 404.
async fn find(session: &query::LakeSession, id: &str) -> ApiResult<Map<String, Value>> {
    if !has_table(session, ALERTS_TABLE).await? {
        return Err(ApiError::not_found("the lake has no alerts yet (run `trailhouse detect`)"));
    }
    let t = query_table(session, &format!("SELECT * FROM alerts WHERE alert_id = {} LIMIT 1", quote(id))).await?;
    objects(&t).into_iter().next().ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

/// The events an alert names, from the days it spans.
async fn events_of(session: &query::LakeSession, alert: &Map<String, Value>) -> ApiResult<Table> {
    let ids: Vec<String> = alert
        .get("event_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(quote).collect())
        .unwrap_or_default();
    let time = |k: &str| alert.get(k).and_then(Value::as_str).and_then(micros);
    let (Some(first), Some(last), false) = (time("first_seen"), time("last_seen"), ids.is_empty()) else {
        return Ok(Table::default());
    };
    let sql = format!(
        "SELECT eventtime, eventsource, eventname, awsregion, recipientaccountid, {PRINCIPAL} AS principal, \
                useridentity.accesskeyid AS accesskeyid, sourceipaddress, useragent, errorcode, eventid \
         FROM cloudtrail WHERE eventid IN ({}) AND eventdate >= {} AND eventdate <= {} ORDER BY eventtime",
        ids.join(", "),
        date_literal(first),
        date_literal(last)
    );
    query_table(session, &sql).await
}

/// An alert's triage: its state (open before any change), note and history, newest first.
async fn triage_of(session: &query::LakeSession, id: &str) -> ApiResult<Value> {
    if !has_table(session, TRIAGE_TABLE).await? {
        return Ok(json!({ "state": "open", "note": null, "at": null, "history": [] }));
    }
    let t = query_table(
        session,
        &format!("SELECT state, note, at FROM alert_triage WHERE alert_id = {} ORDER BY at DESC", quote(id)),
    )
    .await?;
    let history = objects(&t);
    let latest = history.first().cloned().unwrap_or_default();
    Ok(json!({
        "state": latest.get("state").cloned().unwrap_or_else(|| json!("open")),
        "note": latest.get("note").cloned().unwrap_or(Value::Null),
        "at": latest.get("at").cloned().unwrap_or(Value::Null),
        "history": history,
    }))
}

pub(crate) async fn query_table(session: &query::LakeSession, sql: &str) -> ApiResult<Table> {
    let df = session.plan_read_only(sql).await?;
    let schema = df.schema().inner().clone();
    let batches = df.collect().await.map_err(|e| session.explain(e))?;
    table(&schema, &batches)
}

/// Rows as objects, lists and structs as JSON values.
pub(crate) fn objects(t: &Table) -> Vec<Map<String, Value>> {
    t.rows
        .iter()
        .map(|row| {
            t.columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let v = match (c.kind, v) {
                        ("list" | "struct", Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
                        _ => v.clone(),
                    };
                    (c.name.clone(), v)
                })
                .collect()
        })
        .collect()
}
