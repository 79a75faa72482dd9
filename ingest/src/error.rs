//! The ingest crate's error type.

use crate::decode::DecodeError;

/// Errors from ingesting: each says which object, bucket or table it concerns.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// An AWS call failed: the message names the resource, the cause and what to check.
    #[cfg(feature = "pipeline")]
    #[error("{0}")]
    Aws(crate::aws::failure::Failure),
    #[error("{uri}: {source}")]
    Decode { uri: String, source: DecodeError },
    #[cfg(feature = "pipeline")]
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error("invalid location {0:?}: expected a local folder or s3://bucket/prefix")]
    Location(String),
    #[error("{0}")]
    Config(String),
}

impl IngestError {
    /// Whether the failure will not go away by itself (a missing bucket or queue, a
    /// refusal, bad or absent credentials): a command stops on it instead of retrying.
    pub fn is_permanent(&self) -> bool {
        match self {
            #[cfg(feature = "pipeline")]
            IngestError::Aws(f) => !f.kind.is_retryable(),
            #[cfg(feature = "pipeline")]
            IngestError::Lake(e) => e.is_permanent(),
            _ => false,
        }
    }
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;
