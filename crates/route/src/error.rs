//! Routing errors.

/// Errors from reading destinations, the outbox, or delivering to a destination.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A destination the settings file declares wrongly (names the file, line and key).
    #[error("{0}")]
    Settings(String),
    /// A destination that lacks what its kind needs.
    #[error("destination {name}: {message}")]
    Config { name: String, message: String },
    /// A delivery that failed after its retries (never the destination's secret).
    #[error("destination {name}: {message}")]
    Delivery { name: String, message: String },
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error(transparent)]
    Detect(#[from] detections::DetectError),
    #[error("cannot build the outbox batch: {0}")]
    Arrow(arrow::error::ArrowError),
}

impl RouteError {
    pub(crate) fn config(name: &str, message: String) -> RouteError {
        RouteError::Config { name: name.to_string(), message }
    }

    pub(crate) fn delivery(name: &str, message: impl Into<String>) -> RouteError {
        RouteError::Delivery { name: name.to_string(), message: message.into() }
    }
}

pub type Result<T, E = RouteError> = std::result::Result<T, E>;

// The cause in the message and out of `source()`, so it prints once.
impl From<arrow::error::ArrowError> for RouteError {
    fn from(e: arrow::error::ArrowError) -> Self {
        RouteError::Arrow(e)
    }
}
