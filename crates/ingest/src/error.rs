//! The ingest crate's error type.

use crate::decode::DecodeError;

/// Errors from ingesting: each says which object, bucket or table it concerns.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    /// An AWS call failed: the message names the resource, the cause and what to check.
    #[cfg(feature = "pipeline")]
    #[error("{0}")]
    Aws(crate::aws::failure::Failure),
    #[error("{uri}: {cause}")]
    Decode { uri: String, cause: DecodeError },
    #[cfg(feature = "pipeline")]
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error("invalid location {0:?}: expected a local folder or s3://bucket/prefix")]
    Location(String),
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
