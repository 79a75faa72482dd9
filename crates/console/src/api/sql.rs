//! The SQL page's API: the tables and views with their columns, queries that run in the
//! background with progress and can be cancelled, and downloads of a whole result.

use std::io::{Seek, Write};
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use query::output::Format;
use serde_json::{Value, json};

use super::Params;
use crate::Console;
use crate::error::{ApiError, ApiResult};

/// What each lake table holds, for the editor's side list.
fn describe_table(name: &str) -> &'static str {
    match name {
        "cloudtrail" => "one row per event, Athena's column names",
        "ingested_files" => "the ledger: one row per log file ingested or quarantined, and per digest checked",
        "integrity" => "one row per CloudTrail digest file checked",
        "alerts" => "alerts raised by detection runs",
        "detection_runs" => "one row per detection run",
        "baselines" => "what the stateful detections have seen",
        "alert_triage" => "one row per change of an alert's triage state",
        _ => "",
    }
}

pub async fn schema(State(console): State<Arc<Console>>) -> ApiResult<Json<Value>> {
    let session = console.session().await?;
    let mut tables = Vec::new();
    let lake_tables = session.tables().await?;
    let views = query::views::VIEWS.iter().map(|(name, description, _)| (*name, "view", *description));
    for (name, kind, description) in lake_tables.iter().map(|t| (t.name, "table", describe_table(t.name))).chain(views)
    {
        let columns: Vec<Value> = session
            .describe(name)
            .await?
            .into_iter()
            .map(|(name, kind)| json!({ "name": name, "type": kind }))
            .collect();
        tables.push(json!({ "name": name, "kind": kind, "description": description, "columns": columns }));
    }
    // The editor completes function names too: the session's scalar (DataFusion's and
    // trailhouse's own, such as `principal`), aggregate and window functions, aliases included.
    let state = session.context().state();
    let mut functions: Vec<&str> = state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .map(String::as_str)
        .collect();
    functions.sort_unstable();
    functions.dedup();
    Ok(Json(json!({ "tables": tables, "functions": functions })))
}

/// The named queries of `--queries DIR` ([`query::saved`]), for the SQL page's list: each
/// with its parameters, its text, and `bound`, the text with the defaults filled in (null
/// while a parameter has none). Files that are not a named query are listed in `problems`.
pub async fn saved(State(console): State<Arc<Console>>) -> ApiResult<Json<Value>> {
    let Some(dir) = &console.config.saved_queries else {
        return Ok(Json(json!({ "dir": null, "queries": [], "problems": [] })));
    };
    let folder = query::saved::load(dir)?;
    let queries: Vec<Value> = folder
        .queries
        .iter()
        .map(|q| {
            let params: Vec<Value> = q.params.iter().map(|p| json!({ "name": p.name, "default": p.default })).collect();
            json!({
                "name": q.name,
                "description": q.description,
                "params": params,
                "sql": q.sql,
                "bound": q.bind(&[]).ok(),
            })
        })
        .collect();
    Ok(Json(json!({ "dir": dir.display().to_string(), "queries": queries, "problems": folder.problems })))
}

pub async fn start(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let request = super::json_body(&headers, &body)?;
    let sql = request
        .get("sql")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("the body needs \"sql\": the query to run"))?;
    console.queries.room()?;
    let session = console.session().await?;
    let df = session.plan_read_only(sql).await?;
    let query = console.queries.start(sql, df, move |e| session.explain(e).to_string());
    tracing::info!(query = %query.id, "query started");
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": query.id }))).into_response())
}

pub async fn status(
    State(console): State<Arc<Console>>,
    id: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let id = super::path_id(id)?;
    let p = Params::from_uri(&uri, &["offset", "limit"])?;
    let offset = p.number("offset", 0, 0..=crate::queries::KEEP_ROWS)?;
    let limit = p.number("limit", 100, 1..=10_000)?;
    let query = console.queries.get(&id).ok_or_else(|| gone(&id))?;
    query.polled();
    Ok(Json(json!(query.status(offset, limit)?)))
}

pub async fn cancel(
    State(console): State<Arc<Console>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let id = super::path_id(id)?;
    let query = console.queries.get(&id).ok_or_else(|| gone(&id))?;
    query.cancel();
    tracing::info!(query = %id, "query cancelled");
    Ok(Json(json!({ "state": query.status(0, 1)?.state })))
}

fn gone(id: &str) -> ApiError {
    ApiError::not_found(format!("no query {id} (results are kept for 15 minutes; run it again)"))
}

pub async fn download(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri, &["sql", "format"])?;
    let sql = p.text("sql").ok_or_else(|| ApiError::bad_request("sql is required"))?;
    let format = p.one_of("format", &["csv", "parquet", "ndjson", "json"])?.unwrap_or_else(|| "csv".into());
    let (parsed, extension, content_type) = match format.as_str() {
        "parquet" => (Format::Parquet, "parquet", "application/vnd.apache.parquet"),
        "ndjson" => (Format::Ndjson, "ndjson", "application/x-ndjson"),
        "json" => (Format::Json, "json", "application/json"),
        _ => (Format::Csv, "csv", "text/csv; charset=utf-8"),
    };
    let session = console.session().await?;
    let df = session.plan_read_only(sql).await?;
    let stream = df.execute_stream().await.map_err(|e| session.explain(e))?;
    // The result goes to a file that is already unlinked, then streams from it: a large
    // result is never held in memory, and the file is gone when the response is.
    let file = tempfile::tempfile().map_err(|e| ApiError::internal(format!("cannot make a temporary file: {e}")))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    query::output::write_stream(stream, parsed, &mut out).await.map_err(|e| match e {
        query::QueryError::DataFusion(d) => session.explain(d).into(),
        other => ApiError::from(other),
    })?;
    out.flush().map_err(|e| ApiError::internal(format!("cannot write the result: {e}")))?;
    let mut file = out.into_inner().map_err(|e| ApiError::internal(format!("cannot write the result: {e}")))?;
    file.rewind().map_err(|e| ApiError::internal(format!("cannot read the result back: {e}")))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file)));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"trailhouse-result.{extension}\"")),
        ],
        body,
    )
        .into_response())
}
