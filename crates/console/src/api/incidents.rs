//! `GET /api/incidents`: the lake's incidents (an identity's alerts grouped by `detect`),
//! highest score first, each with its steps and their triage state.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use lake::INCIDENTS_TABLE;
use serde_json::{Value, json};

use super::alerts::{objects, query_table};
use super::{Params, has_table};
use crate::Console;
use crate::error::ApiResult;

pub async fn list(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let p = Params::from_uri(&uri, &["limit", "offset"])?;
    let limit = p.number("limit", 10, 1..=200)?;
    let offset = p.number("offset", 0, 0..=1_000_000_000)?;
    let session = console.session().await?;
    if !has_table(&session, INCIDENTS_TABLE).await? {
        return Ok(Json(json!({ "total": 0, "incidents": [] })));
    }
    let total = super::count(&session, "SELECT count(*) FROM incidents").await?;
    let sql = format!(
        "SELECT incident_id, severity, score, progression, principal, identity, accounts, tactics, alerts, \
         first_seen, last_seen, steps FROM incidents ORDER BY score DESC, last_seen DESC, incident_id \
         LIMIT {limit} OFFSET {offset}"
    );
    let mut incidents = objects(&query_table(&session, &sql).await?);
    // Each step's triage state, in one query.
    let mut ids: Vec<String> = vec![];
    for i in &mut incidents {
        let steps: Value =
            i.get("steps").and_then(Value::as_str).and_then(|s| serde_json::from_str(s).ok()).unwrap_or(json!([]));
        ids.extend(steps.as_array().into_iter().flatten().filter_map(|s| s["alert_id"].as_str().map(String::from)));
        i.insert("steps".into(), steps);
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let states = detections::triage::states(&console.lake, &ids).await?;
    for i in &mut incidents {
        if let Some(Value::Array(steps)) = i.get_mut("steps") {
            for s in steps {
                let id = s["alert_id"].as_str().unwrap_or_default();
                s["state"] = json!(states.get(id).map_or("open", |t| t.as_str()));
            }
        }
    }
    Ok(Json(json!({ "total": total, "incidents": incidents })))
}
