//! `GET /api/exceptions` and `POST /api/exceptions`: the lake's alert exceptions, and one
//! added from the console (proposed when an alert is closed as benign).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use detections::exception::{self, Exception};
use serde_json::{Value, json};

use crate::Console;
use crate::error::{ApiError, ApiResult};

const DAY_MICROS: i64 = 86_400_000_000;

pub async fn list(State(console): State<Arc<Console>>) -> ApiResult<Json<Value>> {
    let now = lake::time::now_micros();
    let all = exception::load(&console.lake).await?;
    let active: Vec<&Exception> = all.iter().filter(|e| e.active_at(now)).collect();
    Ok(Json(json!({ "exceptions": active })))
}

/// `{"rule": ..., "condition": ..., "reason": ..., "owner": ..., "days": 30}`: checked as
/// `trailhouse exceptions add` checks it (a condition that does not parse or names an
/// unknown field, no reason or owner, more than a year: 400 with why).
pub async fn add(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    let r = super::json_body(&headers, &body)?;
    let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let rule = text("rule");
    if rule != "*" && rule != detections::incident::SEQUENCE_RULE && !console.config.rules.iter().any(|x| x.id == rule)
    {
        return Err(ApiError::bad_request(format!("no rule {rule:?} in the console's rule set")));
    }
    let days = r.get("days").and_then(Value::as_i64).unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_request("days must be from 1 to 366"));
    }
    let now = lake::time::now_micros();
    let e = Exception::new(&rule, &text("condition"), &text("reason"), &text("owner"), now + days * DAY_MICROS, now)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    exception::add(&console.lake, &e).await?;
    tracing::info!(exception = %e.exception_id, rule = %e.rule, "exception added from the console");
    Ok(Json(serde_json::to_value(&e).unwrap_or(Value::Null)))
}
