//! Quarantine: a file that could not be decoded is kept, byte for byte, under
//! `quarantine/` beside a `.error.json` saying where it came from and why.

use std::sync::Arc;

use deltalake::{ObjectStore, Path};
use object_store::ObjectStoreExt;

use crate::{Lake, LakeError, QUARANTINE_DIR, Result};

impl Lake {
    /// Copies an undecodable file to the quarantine folder with its error beside it;
    /// returns where it went. The path keeps only safe characters of the source name, so
    /// no key can escape the quarantine folder.
    pub async fn quarantine(&self, name: &str, uri: &str, data: bytes::Bytes, error: &str) -> Result<String> {
        let store = self.folder_store(QUARANTINE_DIR)?;
        let rel = safe_relative_path(name);
        let bad_path =
            |e: object_store::path::Error| LakeError::state(&self.location, format!("bad quarantine path {rel}: {e}"));
        let path = Path::parse(&rel).map_err(bad_path)?;
        let meta_path = Path::parse(format!("{rel}.error.json")).map_err(bad_path)?;
        let meta = serde_json::json!({
            "source": uri,
            "error": error,
            "quarantined_at": chrono::Utc::now().to_rfc3339(),
        });
        let put_err =
            |e: object_store::Error| LakeError::state(&self.location, format!("cannot write quarantine/{rel}: {e}"));
        store.put(&path, data.into()).await.map_err(put_err)?;
        store.put(&meta_path, bytes::Bytes::from(meta.to_string()).into()).await.map_err(put_err)?;
        Ok(format!("{}{rel}", self.table_url(QUARANTINE_DIR)?))
    }

    /// An object store rooted at a folder of the lake.
    fn folder_store(&self, folder: &str) -> Result<Arc<dyn ObjectStore>> {
        let table = self.builder(folder)?.build().map_err(LakeError::delta(&self.location))?;
        Ok(table.object_store())
    }
}

/// Keeps `[A-Za-z0-9._=-]` of each path segment (others become `_`), drops empty, `.`
/// and `..` segments.
pub fn safe_relative_path(name: &str) -> String {
    let segs: Vec<String> = name
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(|s| {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || "._=-".contains(c) { c } else { '_' }).collect::<String>()
        })
        .map(|s| if s.chars().all(|c| c == '.') { "_".to_string() } else { s })
        .collect();
    if segs.is_empty() { "unnamed".to_string() } else { segs.join("/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_paths_never_escape() {
        for (name, want) in [
            ("AWSLogs/1/CloudTrail/a.json.gz", "AWSLogs/1/CloudTrail/a.json.gz"),
            ("../../etc/passwd", "etc/passwd"),
            ("/abs/path", "abs/path"),
            ("a/./b/../c", "a/b/c"),
            ("we ird\u{0}name?.gz", "we_ird_name_.gz"),
            ("...", "_"),
            ("", "unnamed"),
        ] {
            assert_eq!(safe_relative_path(name), want, "{name:?}");
        }
    }
}
