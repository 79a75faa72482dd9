//! Detection errors.

/// Errors from loading, testing or running detections, and from delivering their alerts.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("rule {origin}: {message}")]
    Rule { origin: String, message: String },
    #[error("rule {rule}: {message}")]
    Sql { rule: String, message: String },
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("delta table: {0}")]
    Delta(deltalake::DeltaTableError),
    #[error("cannot build the alert batch: {0}")]
    Arrow(arrow::error::ArrowError),
    #[error("{context}: {cause}")]
    Io { context: String, cause: std::io::Error },
    /// A sink could not take the alerts (a closed stdout, a JSONL file that cannot be
    /// written). The I/O error is the source, so `... | head` is recognised as a closed pipe.
    #[error("{context}")]
    Output { context: String, source: std::io::Error },
    /// A triage change that cannot be recorded as asked (closing without a note).
    #[error("{0}")]
    Triage(String),
    /// An exception that cannot be recorded as asked (no expiry, a condition that does not
    /// parse), or one that does not exist.
    #[error("{0}")]
    Exception(String),
    #[error("webhook {url}: {message}")]
    Webhook { url: String, message: String },
}

pub type Result<T, E = DetectError> = std::result::Result<T, E>;

// Conversions that keep the cause in the message and out of `source()`, so it prints once.
impl From<deltalake::DeltaTableError> for DetectError {
    fn from(e: deltalake::DeltaTableError) -> Self {
        DetectError::Delta(e)
    }
}

impl From<arrow::error::ArrowError> for DetectError {
    fn from(e: arrow::error::ArrowError) -> Self {
        DetectError::Arrow(e)
    }
}
