//! `GET /api/alerts` (what needs attention first: open, then severity, then time; sortable,
//! filterable, within the shared time range), `GET /api/alerts/groups` (the same alerts by
//! rule, identity or account, with counts), `GET /api/alerts/{id}` (one alert, evidence
//! first: what fired, its events with their request, response and whole record, the
//! identity's other activity around it) and the triage writes: one alert, or many by ids
//! or by filter, each change an audit row (who, when, what) in the lake.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use detections::engine::PRINCIPAL_SQL as PRINCIPAL;
use detections::triage::{CloseReason, TriageChange, TriageState, TriageTable, triage_table};
use lake::ALERTS_TABLE;
use serde_json::{Map, Value, json};

use super::{Params, WINDOW_PARAMS, Window, date_literal, has_table, micros, run};
use crate::Console;
use crate::cells::{Table, quote, strings, table};
use crate::error::{ApiError, ApiResult};

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];
const STATES: [&str; 3] = ["open", "acknowledged", "closed"];
const SORTS: [&str; 8] = ["attention", "severity", "last_seen", "first_seen", "events", "title", "principal", "state"];
const GROUPS: [&str; 3] = ["rule", "identity", "account"];
/// At most this many alerts change in one bulk request (by ids or by filter).
const MAX_BULK: usize = 10_000;

/// The filter parameters of the list, the groups and a bulk change by filter.
const FILTERS: [&str; 8] = ["severity", "rule", "account", "principal", "identity", "state", "assignee", "delivery"];

/// An alert's full principal: the ARN it acted as. A role session's is its
/// `assumed-role/ROLE/SESSION` ARN (the alert keeps the role's ARN as `identity` and
/// `ROLE/SESSION` as `principal`), so two sessions, or two users named alike in two
/// accounts, stay apart.
pub(crate) const FULL_PRINCIPAL: &str = "CASE WHEN a.identity LIKE 'arn:%:iam::%:role/%' AND strpos(a.principal, '/') > 0 \
     THEN 'arn:' || split_part(a.identity, ':', 2) || ':sts::' || split_part(a.identity, ':', 5) || ':assumed-role/' || a.principal \
     ELSE a.identity END";

/// Severity as a rank, most severe first.
pub(crate) const SEVERITY_RANK: &str = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 \
     WHEN 'low' THEN 3 WHEN 'info' THEN 4 ELSE 5 END";
const STATE_RANK: &str = "CASE coalesce(t.state, 'open') WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END";

/// The columns of an alert in the list.
fn list_columns() -> String {
    format!(
        "a.alert_id, a.rule_id, a.title, a.severity, a.first_seen, a.last_seen, a.events, a.principal, a.identity, \
         {FULL_PRINCIPAL} AS full_principal, a.accounts, a.source_ips, a.regions, coalesce(t.state, 'open') AS state, \
         t.assignee, t.reason"
    )
}

/// `alerts a` with `t`, each alert's newest triage state (none before the first triage).
async fn with_state(session: &query::LakeSession) -> ApiResult<String> {
    Ok(detections::triage::alerts_with_state(triage_table(session).await?))
}

/// SQL true for alerts about `who`: an ARN (a user's, a role's: every session of it, or
/// one session's `assumed-role` ARN) matched exactly, anything else as the short name.
pub(crate) fn principal_condition(who: &str) -> String {
    let v = quote(who);
    if who.starts_with("arn:") {
        format!("(a.identity = {v} OR {FULL_PRINCIPAL} = {v})")
    } else {
        format!("a.principal = {v}")
    }
}

/// The conditions on `alerts a` / triage `t` that a set of filter values asks for.
fn conditions(get: &dyn Fn(&str) -> Option<String>, undelivered: &str) -> ApiResult<Vec<String>> {
    let one_of = |name: &str, allowed: &[&str]| -> ApiResult<Option<String>> {
        match get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
            Some(v) => Err(ApiError::bad_request(format!("{name} must be one of {}, not {v:?}", allowed.join(", ")))),
        }
    };
    let mut filters = vec!["true".to_string()];
    if let Some(s) = one_of("severity", &SEVERITIES)? {
        filters.push(format!("a.severity = {}", quote(&s)));
    }
    if let Some(s) = one_of("state", &[&STATES[..], &["unresolved"]].concat())? {
        filters.push(if s == "unresolved" {
            "coalesce(t.state, 'open') <> 'closed'".to_string()
        } else {
            format!("coalesce(t.state, 'open') = {}", quote(&s))
        });
    }
    if let Some(r) = get("rule") {
        filters.push(format!("a.rule_id = {}", quote(&r)));
    }
    if let Some(a) = get("account") {
        filters.push(format!("array_has(a.accounts, {})", quote(&a)));
    }
    if let Some(who) = get("principal") {
        filters.push(principal_condition(&who));
    }
    if let Some(id) = get("identity") {
        filters.push(format!("coalesce(a.identity, a.principal) = {}", quote(&id)));
    }
    match get("assignee").as_deref() {
        None => {}
        Some("none") => filters.push("t.assignee IS NULL".into()),
        Some(who) => filters.push(format!("t.assignee = {}", quote(who))),
    }
    let delivery = one_of("delivery", &["delivered", "undelivered"])?;
    filters.push(if delivery.as_deref() == Some("undelivered") {
        undelivered.to_string()
    } else {
        format!("NOT {undelivered}")
    });
    Ok(filters)
}

/// A request's filter (`?severity=...&range=24h`).
struct Filter {
    /// One SQL condition on `alerts a` and `t`.
    sql: String,
    window: Option<Window>,
    /// SQL true for an alert that was not delivered ([`undelivered_condition`]).
    undelivered: String,
}

async fn filter_of(p: &Params, session: &query::LakeSession) -> ApiResult<Filter> {
    let undelivered = undelivered_condition(session).await;
    let mut filters = conditions(&|k| p.text(k).map(String::from), &undelivered)?;
    let window = Window::of(p, session).await?;
    if let Some(w) = window {
        filters.push(w.alerts());
    }
    Ok(Filter { sql: filters.join(" AND "), window, undelivered })
}

pub async fn list(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let known = [&FILTERS[..], &WINDOW_PARAMS[..], &["sort", "dir", "limit", "offset"]].concat();
    let p = Params::from_uri(&uri, &known)?;
    let sort = p.one_of("sort", &SORTS)?.unwrap_or_else(|| "attention".into());
    let dir = p.one_of("dir", &["asc", "desc"])?;
    let limit = p.number("limit", 100, 1..=1000)?;
    let offset = p.number("offset", 0, 0..=1_000_000_000)?;
    let session = console.session().await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        return Ok(Json(json!({ "total": 0, "alerts": [], "rules": [], "severities": SEVERITIES, "sort": sort })));
    }
    let Filter { sql: filter, window, undelivered } = filter_of(&p, &session).await?;
    let from = with_state(&session).await?;
    let total = super::count(&session, &format!("SELECT count(*) FROM {from} WHERE {filter}")).await?;
    let order = order_by(&sort, dir.as_deref());
    let sql = format!(
        "SELECT {} FROM {from} WHERE {filter} ORDER BY {order}, a.alert_id LIMIT {limit} OFFSET {offset}",
        list_columns()
    );
    let alerts = objects(&query_table(&session, &sql).await?);
    let rules = strings(&run(&session, "SELECT DISTINCT rule_id FROM alerts ORDER BY 1").await?, 0)?;
    // Alerts an exception suppressed or a shadow rule raised are recorded, not delivered:
    // apart by default, shown with delivery=undelivered, counted per rule either way.
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
        "sort": sort, "dir": dir, "window": window.map(|w| w.json()), "reasons": CloseReason::ALL.map(CloseReason::as_str),
    })))
}

/// The ORDER BY of a sort: `attention` is open before acknowledged before closed, then the
/// most severe, then the newest.
fn order_by(sort: &str, dir: Option<&str>) -> String {
    let (column, default_dir) = match sort {
        "severity" => (SEVERITY_RANK.to_string(), "asc"),
        "first_seen" => ("a.first_seen".into(), "desc"),
        "events" => ("a.events".into(), "desc"),
        "title" => ("a.title".into(), "asc"),
        "principal" => ("a.principal".into(), "asc"),
        "state" => (STATE_RANK.to_string(), "asc"),
        "last_seen" => ("a.last_seen".into(), "desc"),
        _ => return format!("{STATE_RANK}, {SEVERITY_RANK}, a.last_seen DESC"),
    };
    let dir = dir.unwrap_or(default_dir);
    // Ties: the most severe and newest first.
    format!("{column} {dir} NULLS LAST, {SEVERITY_RANK}, a.last_seen DESC")
}

/// `GET /api/alerts/groups?by=rule|identity|account` with the list's filters: each group's
/// alerts, open ones, worst severity and newest time, worst and busiest first.
pub async fn groups(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let known = [&FILTERS[..], &WINDOW_PARAMS[..], &["by", "limit"]].concat();
    let p = Params::from_uri(&uri, &known)?;
    let by =
        p.one_of("by", &GROUPS)?.ok_or_else(|| ApiError::bad_request("by is required: rule, identity or account"))?;
    let limit = p.number("limit", 200, 1..=1000)?;
    let session = console.session().await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        return Ok(Json(json!({ "by": by, "groups": [] })));
    }
    let filter = filter_of(&p, &session).await?.sql;
    let from = with_state(&session).await?;
    // Each alert with its state (and, by account, once per account it names), then grouped.
    let (key, label, unnest) = match by.as_str() {
        "rule" => ("a.rule_id", "max(a.title)", ""),
        "identity" => ("coalesce(a.identity, a.principal)", "max(a.principal)", ""),
        _ => ("a.g_account", "max(a.g_account)", ", unnest(a.accounts) AS g_account"),
    };
    let sql = format!(
        "SELECT {key} AS key, {label} AS label, count(*) AS alerts, count(*) FILTER (WHERE a.g_state = 'open') AS open, \
                min({SEVERITY_RANK}) AS worst, max(a.last_seen) AS last_seen \
         FROM (SELECT a.*, coalesce(t.state, 'open') AS g_state{unnest} FROM {from} WHERE {filter}) a \
         GROUP BY 1 ORDER BY worst, open DESC, alerts DESC, key LIMIT {limit}"
    );
    let mut groups = objects(&query_table(&session, &sql).await?);
    for g in &mut groups {
        let worst = g.get("worst").and_then(Value::as_i64).unwrap_or(5);
        g.insert("severity".into(), json!(SEVERITIES.get(worst as usize).copied().unwrap_or("info")));
        g.remove("worst");
    }
    Ok(Json(json!({ "by": by, "groups": groups })))
}

/// SQL true for an alert that was not delivered (an exception suppressed it, or its rule is
/// in shadow mode); `false` over an alerts table from before both.
pub(crate) async fn undelivered_condition(session: &query::LakeSession) -> String {
    let has = |c: &'static str| async move { session.sql(&format!("SELECT {c} FROM alerts LIMIT 0")).await.is_ok() };
    match (has("suppressed_by").await, has("shadow").await) {
        (true, true) => "(a.suppressed_by IS NOT NULL OR coalesce(a.shadow, false))".into(),
        (true, false) => "(a.suppressed_by IS NOT NULL)".into(),
        _ => "false".into(),
    }
}

/// What a triage request changes: state (required), note, close reason, assignee, and who.
struct Change<'a> {
    state: TriageState,
    note: Option<&'a str>,
    reason: Option<CloseReason>,
    assignee: Option<&'a str>,
    by: Option<&'a str>,
}

impl Change<'_> {
    fn parse(request: &Value) -> ApiResult<Change<'_>> {
        let text = |k: &str| request.get(k).and_then(Value::as_str);
        let state = text("state")
            .ok_or_else(|| ApiError::bad_request("the body needs \"state\": open, acknowledged or closed"))?;
        let reason = text("reason")
            .filter(|r| !r.is_empty())
            .map(str::parse::<CloseReason>)
            .transpose()
            .map_err(ApiError::bad_request)?;
        Ok(Change {
            state: state.parse().map_err(ApiError::bad_request)?,
            note: text("note"),
            reason,
            assignee: text("assignee"),
            by: text("by"),
        })
    }

    fn of(&self, id: &str) -> ApiResult<TriageChange> {
        Ok(TriageChange::now(id, self.state, self.note)?
            .with_reason(self.reason)?
            .by(self.by, "console")
            .assigned(self.assignee))
    }
}

/// `POST /api/alerts/triage`: one state, note, reason and assignee for many alerts, by
/// `"ids": [...]` or by `"filter": {...}` (the list's filter parameters, the time range
/// included: every alert it matches, not one page), recorded in one commit, one audit row
/// per alert. An unknown id refuses the whole request.
pub async fn bulk_triage(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let request = super::json_body(&headers, &body)?;
    let change = Change::parse(&request)?;
    let session = console.session().await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        return Err(ApiError::not_found("the lake has no alerts yet (run `trailhouse detect`)"));
    }
    let ids: Vec<String> = if let Some(filter) = request.get("filter") {
        let Some(filter) = filter.as_object() else {
            return Err(ApiError::bad_request("\"filter\" must be an object of the list's filter parameters"));
        };
        let known = [&FILTERS[..], &WINDOW_PARAMS[..]].concat();
        let mut pairs = vec![];
        for (k, v) in filter {
            let Some(v) = v.as_str() else {
                return Err(ApiError::bad_request(format!("filter {k:?} must be text")));
            };
            pairs.push((k.clone(), v.to_string()));
        }
        let p = Params::from_pairs(pairs, &known)?;
        let filter = filter_of(&p, &session).await?.sql;
        let from = with_state(&session).await?;
        let ids = strings(
            &run(&session, &format!("SELECT a.alert_id FROM {from} WHERE {filter} ORDER BY 1 LIMIT {}", MAX_BULK + 1))
                .await?,
            0,
        )?;
        if ids.len() > MAX_BULK {
            return Err(ApiError::bad_request(format!(
                "the filter matches more than {MAX_BULK} alerts: narrow it (a rule, a time range)"
            )));
        }
        ids
    } else {
        let ids: Vec<String> = request
            .get("ids")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        if ids.is_empty() {
            return Err(ApiError::bad_request("the body needs \"ids\" (the alerts to change) or \"filter\""));
        }
        if ids.len() > MAX_BULK {
            return Err(ApiError::bad_request(format!("at most {MAX_BULK} alerts at once")));
        }
        let list = ids.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", ");
        let known = strings(
            &run(&session, &format!("SELECT DISTINCT alert_id FROM alerts WHERE alert_id IN ({list})")).await?,
            0,
        )?;
        if let Some(missing) = ids.iter().find(|i| !known.contains(i)) {
            return Err(ApiError::not_found(format!("no alert {missing}")));
        }
        ids
    };
    // Checked (a close needs a note) before anything is written.
    let changes = ids.iter().map(|id| change.of(id)).collect::<ApiResult<Vec<_>>>()?;
    if !changes.is_empty() {
        detections::triage::record_all(&console.lake, &changes).await?;
    }
    tracing::info!(alerts = changes.len(), state = change.state.as_str(), "alerts triaged in bulk");
    Ok(Json(json!({ "changed": changes.len(), "state": change.state.as_str(), "ids": ids })))
}

/// The alerts that name a principal, IP or other value (for an investigation), in the
/// order the alerts page shows them.
pub(crate) async fn naming(session: &query::LakeSession, condition: &str) -> ApiResult<Vec<Map<String, Value>>> {
    if !has_table(session, ALERTS_TABLE).await? {
        return Ok(vec![]);
    }
    let from = with_state(session).await?;
    let sql = format!(
        "SELECT {} FROM {from} WHERE {condition} ORDER BY {}, a.alert_id LIMIT 200",
        list_columns(),
        order_by("attention", None)
    );
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
            "triage": r.triage, "mitre": r.mitre, "references": r.references, "sql": r.sql.trim(),
            "dedup": { "key": r.dedup.key, "window": r.dedup.window },
            "threshold": r.threshold.as_ref().map(|t| json!({ "count": t.count, "window": t.window, "distinct": t.distinct })),
            "sigma": r.sigma.as_ref().map(|s| s.id.clone()),
        })
    });
    let (events, raw, sql) = events_of(&session, &alert).await?;
    let activity = activity_of(&session, &alert).await?;
    let triage = triage_of(&session, &id).await?;
    Ok(Json(json!({
        "alert": alert, "rule": rule, "events": events, "raw": raw, "events_sql": sql, "activity": activity,
        "triage": triage, "reasons": CloseReason::ALL.map(CloseReason::as_str),
    })))
}

pub async fn triage(
    State(console): State<Arc<Console>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let id = super::path_id(id)?;
    let request = super::json_body(&headers, &body)?;
    let change = Change::parse(&request)?.of(&id)?;
    let session = console.session().await?;
    find(&session, &id).await?;
    detections::triage::record(&console.lake, &change).await?;
    tracing::info!(alert = %id, state = change.state.as_str(), "alert triaged");
    let session = console.session().await?;
    Ok(Json(triage_of(&session, &id).await?))
}

/// The alert's row, or 404.
async fn find(session: &query::LakeSession, id: &str) -> ApiResult<Map<String, Value>> {
    if !has_table(session, ALERTS_TABLE).await? {
        return Err(ApiError::not_found("the lake has no alerts yet (run `trailhouse detect`)"));
    }
    let from = with_state(session).await?;
    let t = query_table(
        session,
        &format!("SELECT a.*, {FULL_PRINCIPAL} AS full_principal FROM {from} WHERE a.alert_id = {} LIMIT 1", quote(id)),
    )
    .await?;
    objects(&t).into_iter().next().ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

/// The events an alert names, from the days it spans: the columns the page shows, each
/// event's whole record (every column, by event id), and the SQL that reproduces them.
async fn events_of(
    session: &query::LakeSession,
    alert: &Map<String, Value>,
) -> ApiResult<(Table, Value, Option<String>)> {
    let ids: Vec<String> = alert
        .get("event_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(quote).collect())
        .unwrap_or_default();
    let time = |k: &str| alert.get(k).and_then(Value::as_str).and_then(micros);
    let (Some(first), Some(last), false) = (time("first_seen"), time("last_seen"), ids.is_empty()) else {
        return Ok((Table::default(), json!({}), None));
    };
    let filter = format!(
        "eventid IN ({}) AND eventdate >= {} AND eventdate <= {}",
        ids.join(", "),
        date_literal(first),
        date_literal(last)
    );
    let sql = format!(
        "SELECT eventtime, eventsource, eventname, awsregion, recipientaccountid, {PRINCIPAL} AS principal, \
                useridentity.arn AS arn, useridentity.accesskeyid AS accesskeyid, sourceipaddress, useragent, errorcode, \
                errormessage, requestparameters, responseelements, eventid \
         FROM cloudtrail WHERE {filter} ORDER BY eventtime"
    );
    let events = query_table(session, &sql).await?;
    let mut raw = Map::new();
    for row in objects(&query_table(session, &format!("SELECT * FROM cloudtrail WHERE {filter}")).await?) {
        if let Some(Value::String(id)) = row.get("eventid") {
            raw.insert(id.clone(), Value::Object(row));
        }
    }
    let reproduce = format!("SELECT * FROM cloudtrail WHERE {filter} ORDER BY eventtime");
    Ok((events, Value::Object(raw), Some(reproduce)))
}

/// What the alert's identity did in the day either side of it: its calls, errors and
/// busiest event names, and the SQL that lists them.
async fn activity_of(session: &query::LakeSession, alert: &Map<String, Value>) -> ApiResult<Value> {
    const DAY: i64 = 86_400_000_000;
    let time = |k: &str| alert.get(k).and_then(Value::as_str).and_then(micros);
    let who = alert.get("full_principal").and_then(Value::as_str).filter(|w| w.starts_with("arn:"));
    let (Some(first), Some(last), Some(who)) = (time("first_seen"), time("last_seen"), who) else {
        return Ok(Value::Null);
    };
    let w = Window { from: first - DAY, to: last + DAY };
    let subject = super::investigate::principal_events(who);
    let condition = format!("{subject} AND {}", w.events());
    let names = query_table(
        session,
        &format!(
            "SELECT eventname, count(*) AS calls, count(errorcode) AS errors, min(eventtime) AS first, max(eventtime) AS last \
             FROM cloudtrail WHERE {condition} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 15"
        ),
    )
    .await?;
    let totals = run(session, &format!("SELECT count(*), count(errorcode) FROM cloudtrail WHERE {condition}")).await?;
    let ints = crate::cells::integers;
    Ok(json!({
        "principal": who, "window": w.json(),
        "calls": ints(&totals, 0)?.first().copied().unwrap_or(0),
        "errors": ints(&totals, 1)?.first().copied().unwrap_or(0),
        "event_names": objects(&names),
        "sql": format!(
            "SELECT eventtime, eventsource, eventname, awsregion, sourceipaddress, errorcode, eventid FROM cloudtrail \
             WHERE {condition} ORDER BY eventtime DESC LIMIT 500"
        ),
    }))
}

/// An alert's triage: its state (open before any change), note, reason, assignee and
/// history (the audit trail: who, when, what), newest first.
async fn triage_of(session: &query::LakeSession, id: &str) -> ApiResult<Value> {
    let columns = match triage_table(session).await? {
        TriageTable::Missing => return Ok(json!({ "state": "open", "note": null, "at": null, "history": [] })),
        TriageTable::WithoutAudit => "state, note, at",
        TriageTable::Current => "state, note, at, reason, assignee, actor, via",
    };
    let t = query_table(
        session,
        &format!("SELECT {columns} FROM alert_triage WHERE alert_id = {} ORDER BY at DESC", quote(id)),
    )
    .await?;
    let history = objects(&t);
    let latest = history.first().cloned().unwrap_or_default();
    let assignee = history
        .iter()
        .find_map(|h| h.get("assignee").and_then(Value::as_str))
        .filter(|a| !a.is_empty())
        .map(String::from);
    Ok(json!({
        "state": latest.get("state").cloned().unwrap_or_else(|| json!("open")),
        "note": latest.get("note").cloned().unwrap_or(Value::Null),
        "reason": latest.get("reason").cloned().unwrap_or(Value::Null),
        "at": latest.get("at").cloned().unwrap_or(Value::Null),
        "assignee": assignee,
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
