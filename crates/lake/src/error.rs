//! The lake's error type.

use deltalake::DeltaTableError;

/// Errors from the lake: each names the lake (or path) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("lake at {location}: {cause}")]
    Delta { location: String, cause: Box<DeltaTableError> },
    #[error("lake at {location}: {message}")]
    State { location: String, message: String },
    #[error("invalid location {0:?}: expected a local folder or s3://bucket/prefix")]
    Location(String),
    /// The lake's storage refused or could not be reached (no such bucket, access denied,
    /// no credentials, connection refused): one line that says what to check.
    #[error("{failure}")]
    Storage { location: String, failure: crate::failure::Failure },
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

impl LakeError {
    /// A closure turning a delta-rs error into one that names the lake.
    /// A storage failure among them (no such bucket, access denied, no credentials) is
    /// explained in one line, the raw error logged at debug level.
    pub fn delta(location: &str) -> impl Fn(DeltaTableError) -> LakeError + '_ {
        move |e| match crate::failure::explain_text(&e.to_string(), "Lake access", location) {
            Some(failure) => LakeError::Storage { location: location.to_string(), failure },
            None => LakeError::Delta { location: location.to_string(), cause: Box::new(e) },
        }
    }

    /// A state error: the lake is not as this build expects.
    pub fn state(location: &str, message: impl Into<String>) -> LakeError {
        LakeError::State { location: location.to_string(), message: message.into() }
    }
}
