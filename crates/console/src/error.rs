//! Errors: [`ConsoleError`] for starting the server, [`ApiError`] for one request (a status
//! and a message a person can act on, as JSON; never a backtrace).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors from starting or running the console.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot listen on {address}: {cause}")]
    Bind { address: String, cause: std::io::Error },
    #[error(
        "{address} is not a loopback address: the console shows your CloudTrail logs to whoever reaches it, \
         so binding it there needs --auth-token (or TRAILHOUSE_SERVE_TOKEN)"
    )]
    NeedsToken { address: String },
    #[error("--auth-token: {0}")]
    BadToken(String),
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// One request's failure, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }
}

impl From<query::QueryError> for ApiError {
    fn from(e: query::QueryError) -> ApiError {
        match e {
            // Already worded for a person: the SQL's own mistake.
            query::QueryError::Sql(m) | query::QueryError::Usage(m) => ApiError::bad_request(m),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<detections::DetectError> for ApiError {
    fn from(e: detections::DetectError) -> ApiError {
        match e {
            detections::DetectError::Triage(m) => ApiError::bad_request(m),
            detections::DetectError::Query(q) => q.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<lake::LakeError> for ApiError {
    fn from(e: lake::LakeError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for ApiError {
    fn from(e: arrow::error::ArrowError) -> ApiError {
        ApiError::internal(format!("cannot format the result: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "request failed");
        }
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
