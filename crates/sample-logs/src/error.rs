//! The generator's error: a folder or file it could not write.

use std::path::{Path, PathBuf};

/// Errors from generating: each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot write {}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot sign the digest files: {0}")]
    Digest(String),
    #[error("--tamper {0}")]
    Tamper(String),
}

impl GenerateError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        GenerateError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T, E = GenerateError> = std::result::Result<T, E>;
