//! Where a lake lives: a local folder or `s3://bucket/prefix`, as a folder URL.

use url::Url;

use crate::{LakeError, Result};

/// Turns `./lake`, `/abs/lake` or `s3://bucket/prefix` into a folder URL (ending in `/`).
/// A local folder is created when missing.
pub fn location_url(location: &str) -> Result<Url> {
    let mut url = if location.contains("://") {
        Url::parse(location).map_err(|_| LakeError::Location(location.to_string()))?
    } else {
        let path = std::path::Path::new(location);
        std::fs::create_dir_all(path).map_err(|cause| LakeError::Io { path: location.to_string(), cause })?;
        let abs = path.canonicalize().map_err(|cause| LakeError::Io { path: location.to_string(), cause })?;
        Url::from_directory_path(&abs).map_err(|_| LakeError::Location(location.to_string()))?
    };
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// Creates the folder of a `file://` table URL (object stores need no folders).
pub(crate) fn create_local_dir(url: &Url) -> Result<()> {
    if url.scheme() == "file"
        && let Ok(path) = url.to_file_path()
    {
        std::fs::create_dir_all(&path).map_err(|cause| LakeError::Io { path: path.display().to_string(), cause })?;
    }
    Ok(())
}

/// Registers delta-rs's `s3://` handlers once per process.
pub(crate) fn register_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}
