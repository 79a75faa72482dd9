//! The JSON API (`docs/console.md`, "The JSON API"): one module per page of the UI. Parameters are read by
//! hand so that a bad one is a 400 with a message naming it, in the same JSON as every
//! other error.

mod alerts;
mod exceptions;
mod incidents;
mod investigate;
mod overview;
mod sql;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use axum::Router;
use axum::http::Uri;
use axum::routing::{get, post};

use crate::error::{ApiError, ApiResult};
use crate::{Console, auth};

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/info", get(info))
        .route("/overview", get(overview::overview))
        .route("/alerts", get(alerts::list))
        .route("/alerts/triage", post(alerts::bulk_triage))
        .route("/alerts/groups", get(alerts::groups))
        .route("/incidents", get(incidents::list))
        .route("/exceptions", get(exceptions::list).post(exceptions::add))
        .route("/alerts/{id}", get(alerts::one))
        .route("/alerts/{id}/triage", post(alerts::triage))
        .route("/investigate", get(investigate::investigate))
        .route("/chain", get(investigate::chain))
        .route("/enrich", get(enrich))
        .route("/schema", get(sql::schema))
        .route("/saved", get(sql::saved))
        .route("/queries", post(sql::start))
        .route("/queries/{id}", get(sql::status).delete(sql::cancel))
        .route("/download", get(sql::download))
        .method_not_allowed_fallback(crate::assets::method_not_allowed)
}

/// The `{id}` of a path, or a 400 in the API's JSON (a bad percent-escape).
pub(crate) fn path_id(
    path: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult<String> {
    path.map(|p| p.0).map_err(|e| ApiError::bad_request(format!("bad path: {e}")))
}

/// `GET /api/info`: what the header shows (the lake) and which IP and account files the
/// server has, without reading the lake.
async fn info(axum::extract::State(console): axum::extract::State<Arc<Console>>) -> axum::Json<serde_json::Value> {
    let e = enrich::installed();
    axum::Json(serde_json::json!({
        "lake": console.config.lake, "version": env!("CARGO_PKG_VERSION"),
        "enrichment": {
            "city": e.ip.has_city(), "asn": e.ip.has_asn(), "aws_ranges": e.ip.has_aws(),
            "accounts": e.accounts.len(),
        },
    }))
}

/// `GET /api/enrich?ips=A,B&accounts=X,Y`: what the server's files say about each address
/// (country, city, ASN and its organization, AWS service and region) and account (name,
/// OU); values it knows nothing about are left out. At most 1,000 of each.
async fn enrich(uri: Uri) -> ApiResult<axum::Json<serde_json::Value>> {
    let p = Params::from_uri(&uri, &["ips", "accounts"])?;
    let list = |name: &str| -> ApiResult<Vec<String>> {
        let v: Vec<String> = p
            .text(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if v.len() > 1000 {
            return Err(ApiError::bad_request(format!("at most 1000 {name} at once")));
        }
        Ok(v)
    };
    let e = enrich::installed();
    let mut ips = serde_json::Map::new();
    for ip in list("ips")? {
        let info = ip_info(&e.ip, &ip);
        if !info.is_empty() {
            ips.insert(ip, serde_json::Value::Object(info));
        }
    }
    let mut accounts = serde_json::Map::new();
    for id in list("accounts")? {
        if let Some(a) = e.accounts.get(&id) {
            accounts.insert(id, serde_json::json!({ "name": a.name, "ou": a.ou }));
        }
    }
    Ok(axum::Json(serde_json::json!({ "ips": ips, "accounts": accounts })))
}

/// What the IP files say about one address (empty when nothing).
pub(crate) fn ip_info(ip: &enrich::IpIntel, addr: &str) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut out = serde_json::Map::new();
    if let Some(g) = ip.geo(addr) {
        for (k, v) in [("country", g.country), ("city", g.city)] {
            if let Some(v) = v {
                out.insert(k.into(), json!(v));
            }
        }
    }
    if let Some(a) = ip.asn(addr) {
        out.insert("asn".into(), json!(a.number));
        if let Some(o) = a.organization {
            out.insert("asn_org".into(), json!(o));
        }
    }
    if let Some(r) = ip.aws(addr) {
        out.insert("aws_service".into(), json!(r.service));
        out.insert("aws_region".into(), json!(r.region));
    }
    out
}

/// A request's query parameters; names outside `known` are refused (a typo in a shared
/// URL should not silently show everything).
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn from_uri(uri: &Uri, known: &[&str]) -> ApiResult<Params> {
        Params::from_pairs(auth::url_pairs(uri.query().unwrap_or_default()), known)
    }

    /// Parameters from name/value pairs (a JSON body's filter), checked as a URL's are.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>, known: &[&str]) -> ApiResult<Params> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if k == "token" {
                continue;
            }
            if !known.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {k:?} (this endpoint takes {})",
                    known.join(", ")
                )));
            }
            map.insert(k, v);
        }
        Ok(Params(map))
    }

    /// A text parameter, `None` when absent or empty.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A whole-number parameter within `range`, or `default`.
    pub(crate) fn number(
        &self,
        name: &str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> ApiResult<usize> {
        let Some(v) = self.text(name) else { return Ok(default) };
        match v.parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be a whole number from {} to {}, not {v:?}",
                range.start(),
                range.end()
            ))),
        }
    }

    /// A parameter that must be one of `allowed`.
    pub(crate) fn one_of(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<String>> {
        match self.text(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
            Some(v) => Err(ApiError::bad_request(format!("{name} must be one of {}, not {v:?}", allowed.join(", ")))),
        }
    }
}

/// A request's JSON body. It must be sent as JSON: a form on another site cannot send
/// that without the browser asking first (CORS), so a JSON-only endpoint cannot be driven
/// from elsewhere.
pub(crate) fn json_body(headers: &axum::http::HeaderMap, body: &[u8]) -> ApiResult<serde_json::Value> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::bad_request("send the body as JSON (Content-Type: application/json)"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// Runs one of the console's own queries.
pub(crate) async fn run(session: &query::LakeSession, sql: &str) -> ApiResult<Vec<RecordBatch>> {
    Ok(session.sql(sql).await?)
}

/// The first number of a query's answer (a `count(*)`), 0 for none.
pub(crate) async fn count(session: &query::LakeSession, sql: &str) -> ApiResult<i64> {
    Ok(crate::cells::integers(&run(session, sql).await?, 0)?.first().copied().unwrap_or(0))
}

/// Whether the lake has `table` (the detection and triage tables appear with use); a
/// table that cannot be read is an error, not an absent table.
pub(crate) async fn has_table(session: &query::LakeSession, table: &str) -> ApiResult<bool> {
    let unreadable = |e: datafusion::error::DataFusionError| {
        ApiError::internal(format!("cannot read the lake's {table} table: {e}"))
    };
    let schema = session.context().state().schema_for_ref(table).map_err(unreadable)?;
    Ok(schema.table(table).await.map_err(unreadable)?.is_some())
}

/// RFC 3339 of microseconds since the epoch.
pub(crate) fn rfc3339(micros: i64) -> String {
    lake::time::format_canonical(micros)
}

/// A SQL timestamp literal.
pub(crate) fn ts_literal(micros: i64) -> String {
    format!("TIMESTAMP '{}'", rfc3339(micros))
}

/// A SQL date literal of the day holding `micros` (for partition pruning on `eventdate`).
pub(crate) fn date_literal(micros: i64) -> String {
    let (y, m, d) = lake::time::civil_from_days(i64::from(lake::time::day_of(micros)));
    format!("DATE '{y:04}-{m:02}-{d:02}'")
}

/// The microseconds of an RFC 3339 cell (as [`crate::cells`] formats timestamps).
pub(crate) fn micros(text: &str) -> Option<i64> {
    lake::time::parse_lenient(text)
}

/// The time range every page shares, in the URL: `range=6h|24h|7d|30d|90d` (ending at the
/// lake's newest event, so a lake of last month's logs shows them), or `from` and/or `to`
/// (RFC 3339 or a date, UTC). Neither, or `range=all`: no window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub from: i64,
    pub to: i64,
}

/// The parameters of [`Window`], for an endpoint's list of known parameters.
pub(crate) const WINDOW_PARAMS: [&str; 3] = ["range", "from", "to"];

impl Window {
    /// The window a request asks for; `None` for all time.
    pub(crate) async fn of(p: &Params, session: &query::LakeSession) -> ApiResult<Option<Window>> {
        // A date alone is its whole day: `from` its start, `to` its end.
        let time = |name: &str| -> ApiResult<Option<i64>> {
            p.text(name)
                .map(|v| {
                    let day = (v.len() == 10).then(|| format!("{v}T00:00:00Z"));
                    let end_of_day = if day.is_some() && name == "to" { 86_400_000_000 - 1 } else { 0 };
                    micros(day.as_deref().unwrap_or(v)).map(|t| t + end_of_day).ok_or_else(|| {
                        ApiError::bad_request(format!("{name} must be a time such as 2026-11-02T10:00:00Z, not {v:?}"))
                    })
                })
                .transpose()
        };
        let (from, to) = (time("from")?, time("to")?);
        let range = match p.text("range") {
            None | Some("all") => None,
            Some(r) => Some(parse_range(r).ok_or_else(|| {
                ApiError::bad_request(format!("range must be a length such as 6h, 24h, 7d or 90d, or all, not {r:?}"))
            })?),
        };
        if from.is_none() && to.is_none() && range.is_none() {
            return Ok(None);
        }
        let to = match to {
            Some(to) => to,
            None => newest_event(session).await?.unwrap_or_else(lake::time::now_micros),
        };
        // No lower bound is the epoch (CloudTrail has nothing older; DataFusion cannot
        // write a timestamp literal of year -144169).
        let from = from.unwrap_or_else(|| range.map_or(0, |r| to - r)).max(0);
        if from > to {
            return Err(ApiError::bad_request("from must not be after to"));
        }
        Ok(Some(Window { from, to }))
    }

    /// SQL over `cloudtrail`: events in the window (the dates prune partitions).
    pub(crate) fn events(&self) -> String {
        format!(
            "eventtime >= {} AND eventtime <= {} AND eventdate >= {} AND eventdate <= {}",
            ts_literal(self.from),
            ts_literal(self.to),
            date_literal(self.from),
            date_literal(self.to)
        )
    }

    /// SQL over `alerts a`: alerts whose span meets the window.
    pub(crate) fn alerts(&self) -> String {
        format!("a.last_seen >= {} AND a.first_seen <= {}", ts_literal(self.from), ts_literal(self.to))
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({ "from": rfc3339(self.from), "to": rfc3339(self.to) })
    }
}

/// `6h`, `24h`, `7d`, `90d`: microseconds.
fn parse_range(r: &str) -> Option<i64> {
    let (n, unit) = match (r.strip_suffix('h'), r.strip_suffix('d')) {
        (Some(n), _) => (n, 3_600_000_000),
        (_, Some(n)) => (n, 86_400_000_000),
        _ => return None,
    };
    let n: i64 = n.parse().ok().filter(|n| (1..=3650).contains(n))?;
    Some(n * unit)
}

/// The newest event's time, `None` for an empty lake.
pub(crate) async fn newest_event(session: &query::LakeSession) -> ApiResult<Option<i64>> {
    let newest = crate::cells::strings(&run(session, "SELECT max(eventtime) FROM cloudtrail").await?, 0)?;
    Ok(newest.first().and_then(|t| micros(t)))
}
