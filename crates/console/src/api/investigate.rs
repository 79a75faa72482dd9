//! `GET /api/investigate?kind=principal|ip|accesskey|resource|account&value=...`: everything
//! one identity, address, access key, resource or account did, within the shared time
//! range (`range`, `from`, `to`) and, when given, one `account`. The lake is scanned once
//! for the matching events (the columns an investigation reads, the newest [`MAX_EVENTS`]),
//! and every breakdown is computed over that in memory; the calls come a page of
//! [`PAGE`] at a time (`offset`).
//!
//! A principal is matched exactly: an ARN (a user's, a role's with every session of it, a
//! session's `assumed-role` ARN) as that identity; a short name (`bob`) that several
//! identities share answers with the list of them to choose from instead of their events
//! mixed.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use datafusion::datasource::MemTable;
use detections::engine::PRINCIPAL_SQL as PRINCIPAL;
use serde_json::{Value, json};

use super::{Params, WINDOW_PARAMS, Window, micros, run};
use crate::Console;
use crate::api::alerts::{naming, objects, principal_condition, query_table};
use crate::cells::{counts, integers, quote, strings};
use crate::error::{ApiError, ApiResult};

const KINDS: [&str; 5] = ["principal", "ip", "accesskey", "resource", "account"];
const TABLE: &str = "investigated";
/// The newest matching events an investigation reads (it holds them in memory).
const MAX_EVENTS: usize = 1_000_000;
/// Calls per page.
const PAGE: usize = 500;
/// A timeline longer than this is drawn by day instead of by hour.
const HOURLY_UP_TO: i64 = 72 * 3_600_000_000;

/// SQL over `cloudtrail` for the events of one principal ARN: a user's or a session's own
/// ARN, or a role's (every session of it).
pub(crate) fn principal_events(arn: &str) -> String {
    let v = quote(arn);
    format!("(useridentity.arn = {v} OR useridentity.sessioncontext.sessionissuer.arn = {v})")
}

pub async fn investigate(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let known = [&["kind", "value", "account", "offset"][..], &WINDOW_PARAMS[..]].concat();
    let p = Params::from_uri(&uri, &known)?;
    let kind = p
        .one_of("kind", &KINDS)?
        .ok_or_else(|| ApiError::bad_request("kind is required: principal, ip, accesskey, resource or account"))?;
    let value = p.text("value").ok_or_else(|| ApiError::bad_request("value is required"))?.trim().to_string();
    let account = p.text("account").map(str::to_string);
    if let Some(a) = &account
        && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ApiError::bad_request(format!("account must be a 12-digit account id, not {a:?}")));
    }
    let offset = p.number("offset", 0, 0..=MAX_EVENTS)?;
    let v = quote(&value);
    let (events_where, alerts_where) = match kind.as_str() {
        "principal" if value.starts_with("arn:") => (principal_events(&value), principal_condition(&value)),
        "principal" => (format!("{PRINCIPAL} = {v}"), principal_condition(&value)),
        "ip" => (format!("sourceipaddress = {v}"), format!("array_has(a.source_ips, {v})")),
        "accesskey" => (format!("useridentity.accesskeyid = {v}"), mentions(&value)),
        "account" => (
            format!("(recipientaccountid = {v} OR useridentity.accountid = {v})"),
            format!("array_has(a.accounts, {v})"),
        ),
        _ => {
            // A resource: in the event's resources, or a whole value of its request (a trail
            // that was stopped names itself there, not in `resources`).
            let json_value = quote(&Value::from(value.as_str()).to_string());
            (
                format!(
                    "(strpos(requestparameters, {json_value}) > 0{by_name} OR eventid IN (SELECT eventid FROM \
                     (SELECT eventid, unnest(resources) AS r FROM cloudtrail WHERE resources IS NOT NULL) \
                     WHERE get_field(r, 'arn') = {v}))",
                    by_name = by_name(&value)
                ),
                mentions(&value),
            )
        }
    };
    let session = console.session().await?;
    let window = Window::of(&p, &session).await?;
    let mut filters = vec![events_where];
    let mut alert_filters = vec![];
    if let Some(w) = &window {
        filters.push(w.events());
        alert_filters.push(w.alerts());
    }
    if let Some(a) = &account {
        filters.push(format!("recipientaccountid = {}", quote(a)));
        alert_filters.push(format!("array_has(a.accounts, {})", quote(a)));
    }
    let df = session
        .plan_read_only(&format!(
            "SELECT eventtime, eventsource, eventname, awsregion, recipientaccountid, {PRINCIPAL} AS principal, \
                    useridentity.arn AS arn, useridentity.accesskeyid AS accesskeyid, sourceipaddress, useragent, \
                    errorcode, eventid \
             FROM cloudtrail WHERE {} ORDER BY eventtime DESC LIMIT {}",
            filters.join(" AND "),
            MAX_EVENTS + 1
        ))
        .await?;
    let schema = df.schema().inner().clone();
    let mut batches = df.collect().await.map_err(|e| session.explain(e))?;
    let truncated = keep_rows(&mut batches, MAX_EVENTS);
    let table = MemTable::try_new(schema, vec![batches]).map_err(|e| ApiError::internal(e.to_string()))?;
    session.context().register_table(TABLE, Arc::new(table)).map_err(|e| ApiError::internal(e.to_string()))?;

    let mut body = json!({
        "kind": kind, "value": value, "account": account, "window": window.map(|w| w.json()), "truncated": truncated,
    });
    // A short name several identities share: the list of them, not their events mixed.
    if kind == "principal" && !value.starts_with("arn:") {
        let who = query_table(
            &session,
            &format!(
                "SELECT arn, recipientaccountid AS account, count(*) AS events, max(eventtime) AS last_seen \
                 FROM {TABLE} WHERE arn IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 50"
            ),
        )
        .await?;
        let choices = objects(&who);
        let identities: std::collections::HashSet<&str> =
            choices.iter().filter_map(|c| c.get("arn").and_then(Value::as_str)).collect();
        if identities.len() > 1 {
            body["ambiguous"] = json!(true);
            body["choices"] = json!(choices);
            body["events"] = json!(0);
            return Ok(Json(body));
        }
    }

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
    for (k, v) in [
        ("events", json!(events)),
        ("errors", json!(errors)),
        ("first_seen", json!(first)),
        ("last_seen", json!(last)),
        ("bucket", json!(bucket)),
        ("timeline", json!(timeline)),
    ] {
        body[k] = v;
    }
    for (key, column) in [
        ("services", "eventsource"),
        ("regions", "awsregion"),
        ("accounts", "recipientaccountid"),
        ("source_ips", "sourceipaddress"),
        ("user_agents", "useragent"),
        ("principals", "arn"),
        ("access_keys", "accesskeyid"),
        ("error_codes", "errorcode"),
        ("event_names", "eventname"),
    ] {
        let sql = format!(
            "SELECT {column}, count(*) FROM {TABLE} WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 25"
        );
        body[key] = json!(counts(&run(&session, &sql).await?)?);
    }
    // Where from, by country and by network, when the server has the IP files.
    let ip = &enrich::installed().ip;
    for (key, has, column) in [
        ("countries", ip.has_city(), "geo_country(sourceipaddress)".to_string()),
        (
            "networks",
            ip.has_asn(),
            "CASE WHEN asn(sourceipaddress) IS NOT NULL THEN concat('AS', CAST(asn(sourceipaddress) AS VARCHAR), ' ', \
              coalesce(asn_org(sourceipaddress), '')) END"
                .to_string(),
        ),
        ("aws_services", ip.has_aws(), "get_field(aws_service(sourceipaddress), 'service')".to_string()),
    ] {
        if has {
            let sql = format!(
                "SELECT v, count(*) FROM (SELECT {column} AS v FROM {TABLE}) WHERE v IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 25"
            );
            body[key] = json!(counts(&run(&session, &sql).await?)?);
        }
    }
    body["calls"] = json!(
        query_table(&session, &format!("SELECT * FROM {TABLE} ORDER BY eventtime DESC LIMIT {PAGE} OFFSET {offset}"))
            .await?
    );
    body["offset"] = json!(offset);
    body["page_size"] = json!(PAGE);
    // Its alerts: those that name it, and those whose events are among its events (an
    // access key or a resource is not a column of an alert, its events are).
    let overlap = format!(
        "a.alert_id IN (SELECT x.alert_id FROM (SELECT alert_id, unnest(event_ids) AS e FROM alerts) x \
         JOIN {TABLE} i ON x.e = i.eventid)"
    );
    alert_filters.insert(0, format!("({alerts_where} OR {overlap})"));
    body["alerts"] = json!(naming(&session, &alert_filters.join(" AND ")).await?);
    Ok(Json(body))
}

/// SQL true for a call of the ARN's own service in its account that names the resource by
/// its name alone (`DeleteTrail` takes `{"name": "org-trail"}`, not the trail's ARN); empty
/// for a value that is not such an ARN.
fn by_name(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, account, resource] = parts[..] else { return String::new() };
    let name = resource.rsplit(['/', ':']).next().unwrap_or_default();
    if service.is_empty() || account.is_empty() || name.is_empty() {
        return String::new();
    }
    format!(
        " OR (eventsource = {} AND recipientaccountid = {} AND strpos(requestparameters, {}) > 0)",
        quote(&format!("{service}.amazonaws.com")),
        quote(account),
        quote(&Value::from(name).to_string())
    )
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

/// `GET /api/chain?kind=accesskey|identity&value=...` and the time range: the credential
/// chains of a key or an identity ([`query::chain`]): the trees, each credential with how
/// it was made, its window and what it did.
pub async fn chain(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let known = [&["kind", "value"][..], &WINDOW_PARAMS[..]].concat();
    let p = Params::from_uri(&uri, &known)?;
    let kind = p.one_of("kind", &["accesskey", "identity"])?.unwrap_or_else(|| "accesskey".into());
    let value = p.text("value").ok_or_else(|| ApiError::bad_request("value is required"))?;
    let subject = query::chain::Subject::parse(&kind, value).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let session = console.session().await?;
    let within = Window::of(&p, &session).await?.map_or_else(|| "true".to_string(), |w| w.events());
    let trees = query::chain::chains(&session, &subject, &within).await?;
    Ok(Json(json!({ "kind": kind, "value": value, "chains": trees })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_also_found_by_its_name_in_its_own_service_calls() {
        let sql = by_name("arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail");
        assert!(sql.contains("eventsource = 'cloudtrail.amazonaws.com'"), "{sql}");
        assert!(sql.contains("recipientaccountid = '111122223333'"), "{sql}");
        assert!(sql.contains(r#"'"org-trail"'"#), "{sql}");
        // S3 ARNs have no account: only the ARN itself is looked for.
        assert_eq!(by_name("arn:aws:s3:::my-bucket"), "");
        assert_eq!(by_name("not an arn"), "");
    }
}
