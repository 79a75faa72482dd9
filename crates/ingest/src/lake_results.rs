//! A source of CloudTrail Lake's saved query results: the `result_N.csv.gz` files (and their
//! `result_sign.json`) under a folder or an S3 prefix, each checked against its sign file and
//! read as CloudTrail records ([`crate::lake_export`]), so that `backfill` ingests them
//! like log files, exactly once (the ledger names each file by its query id and name, so the
//! same results read from S3 or from a synced copy are one file). A plain `ingest` of a
//! bucket holding such results passes them by: they are not log files.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use integrity::query_results::{FileCheck, SignFile};

use crate::aws::AwsOptions;
use crate::digest_check::KeySource;
use crate::lake_export::{is_result_file, records};
use crate::object::{Payload, SourceObject};
use crate::source::{Source, fetch_s3_if_exists};
use crate::{IngestError, Result};

/// The sign file's name beside a query's results.
pub const SIGN_FILE: &str = "result_sign.json";

/// How result files are checked.
#[derive(Debug, Clone, Default)]
pub struct ResultChecks {
    /// Where the public key that signed `result_sign.json` comes from.
    pub keys: KeySource,
    /// For `ListPublicKeys`.
    pub aws: AwsOptions,
    /// Read result files that have no `result_sign.json` beside them (by default they are
    /// refused: nothing shows they are what CloudTrail wrote).
    pub allow_unsigned: bool,
    /// Read result files without checking them against their sign file at all.
    pub skip: bool,
}

/// A folder's sign file, read and its signature checked: `Ok(None)` when the folder has
/// none, `Err` with why it cannot be trusted.
type Signed = Arc<std::result::Result<Option<SignFile>, String>>;

/// CloudTrail Lake results under `inner`.
#[derive(Debug)]
pub struct LakeResults {
    pub inner: Source,
    pub checks: ResultChecks,
    pub max_inflated: usize,
    /// Each folder's sign file, checked once.
    signs: tokio::sync::Mutex<HashMap<String, Signed>>,
}

/// Splits a location (path or `s3://bucket/key`) into its folder and file name.
fn split(location: &str) -> (&str, &str) {
    location.rsplit_once('/').unwrap_or(("", location))
}

impl LakeResults {
    pub fn new(inner: Source, checks: ResultChecks, max_inflated: usize) -> LakeResults {
        // Absolute, so that every file's folder (where its sign file is) is a path.
        let inner = match inner {
            Source::Local { root } => Source::Local { root: std::fs::canonicalize(&root).unwrap_or(root) },
            other => other,
        };
        LakeResults { inner, checks, max_inflated, signs: Default::default() }
    }

    /// Lists the result files under the source, each keyed
    /// `AWSLogs/CloudTrail-Lake/<query id>/<file>` (the query id is the folder CloudTrail Lake
    /// writes a query's results into): the ledger's name for it wherever it is read from. (It
    /// is under `AWSLogs/` so that the ledger keeps it as it is, and has no account, so
    /// that no digest claims it.)
    pub async fn list(&self, tx: tokio::sync::mpsc::Sender<SourceObject>) -> Result<u64> {
        let (inner_tx, mut inner_rx) = tokio::sync::mpsc::channel::<SourceObject>(1024);
        let inner = self.inner.clone();
        let lister = tokio::spawn(async move { inner.list_files(inner_tx).await });
        let mut n = 0;
        while let Some(mut obj) = inner_rx.recv().await {
            let (folder, name) = split(&obj.key);
            if !is_result_file(name) {
                continue;
            }
            let query_id = match split(folder).1 {
                // A query's own folder given: the files have no folder in their keys.
                "" => self.root_name(),
                id => id.to_string(),
            };
            obj.key = format!("AWSLogs/CloudTrail-Lake/{query_id}/{name}");
            n += 1;
            if tx.send(obj).await.is_err() {
                break;
            }
        }
        drop(inner_rx);
        lister.await.map_err(|e| IngestError::Config(format!("listing task failed: {e}")))??;
        Ok(n)
    }

    /// The name of the folder given (a query's folder when its files are listed without
    /// one), or `-`.
    fn root_name(&self) -> String {
        let name = match &self.inner {
            // A result file given alone: its folder's.
            Source::Local { root } => {
                let folder = if root.is_file() { root.parent() } else { Some(root.as_path()) };
                folder.and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned())
            }
            Source::S3 { prefix, .. } => prefix.trim_end_matches('/').rsplit('/').next().map(str::to_string),
            Source::LakeResults(_) => None,
        };
        name.filter(|n| !n.is_empty()).unwrap_or_else(|| "-".into())
    }

    /// A result file's bytes at `location` (a path, or `s3://bucket/key`); `None` if absent.
    async fn read(&self, location: &str) -> Result<Option<Bytes>> {
        match &self.inner {
            Source::S3 { client, .. } => {
                let rest = location.strip_prefix("s3://").unwrap_or(location);
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                fetch_s3_if_exists(client, bucket, key).await
            }
            _ => match tokio::fs::read(location).await {
                Ok(b) => Ok(Some(b.into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(cause) => Err(IngestError::Io { path: location.to_string(), cause }),
            },
        }
    }

    /// The sign file of the folder at `folder`, checked once.
    async fn sign_file(&self, folder: &str) -> Result<Signed> {
        let mut signs = self.signs.lock().await;
        if let Some(s) = signs.get(folder) {
            return Ok(s.clone());
        }
        let location = format!("{folder}/{SIGN_FILE}");
        let checked = match self.read(&location).await? {
            None => Ok(None),
            Some(bytes) => match SignFile::from_json(&bytes, &location) {
                Err(e) => Err(e.to_string()),
                Ok(sign) => self.verify_signature(&sign, &location).await?.map(|()| Some(sign)),
            },
        };
        let checked = Arc::new(checked);
        signs.insert(folder.to_string(), checked.clone());
        Ok(checked)
    }

    /// `Ok(Ok(()))` when the sign file's signature verifies, `Ok(Err(why))` when it does
    /// not or names a key we do not have; an error when the keys cannot be had at all (the
    /// run stops: nothing is wrong with the files).
    async fn verify_signature(&self, sign: &SignFile, what: &str) -> Result<std::result::Result<(), String>> {
        let keys = match &self.checks.keys {
            KeySource::File(keys) => keys.clone(),
            KeySource::ListPublicKeys => {
                let region = sign.region.as_deref().unwrap_or("us-east-1");
                let at = sign
                    .query_complete_time
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map_or_else(|| chrono::Utc::now().timestamp(), |t| t.timestamp());
                let list = self
                    .checks
                    .aws
                    .list_public_keys(region, at - 86_400, (at + 86_400).min(chrono::Utc::now().timestamp()))
                    .await
                    .map_err(|e| IngestError::Config(format!("cannot get the key that signed {what}: {e}")))?;
                Arc::new(
                    integrity::keys::PublicKeys::from_list(&list, "ListPublicKeys")
                        .map_err(|e| IngestError::Config(e.to_string()))?,
                )
            }
        };
        Ok(match sign.signature_valid(&keys, what) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "the signature of {what} does not verify with key {}: the sign file or the hashes it lists \
                 were changed after CloudTrail signed them",
                sign.public_key_fingerprint
            )),
            // A key the keys given (or ListPublicKeys) do not have: a forged sign file signs
            // with a key of its own. Its folder is refused; the others go on.
            Err(e) => Err(format!("{e}: not CloudTrail's key, or pass CloudTrail's keys with --public-keys")),
        })
    }

    /// The records document of one result file, or why it is refused (the lanes quarantine
    /// it with that message).
    pub async fn payload(&self, obj: &SourceObject) -> Result<Payload> {
        let Some(raw) = self.read(&obj.uri).await? else {
            return Err(IngestError::Io {
                path: obj.uri.clone(),
                cause: std::io::Error::new(std::io::ErrorKind::NotFound, "the result file went away"),
            });
        };
        let (folder, name) = split(&obj.uri);
        if !self.checks.skip {
            let refused = |error: String| Ok(Payload::Refused { raw: raw.clone(), error, retry: false });
            match &*self.sign_file(folder).await? {
                // The sign file is at fault, not this file's bytes: a fixed or complete sign
                // file (a sync that had not finished) lets a later run read it.
                Err(why) => return Ok(Payload::Refused { raw, error: why.clone(), retry: true }),
                Ok(None) if self.checks.allow_unsigned => {}
                Ok(None) => {
                    // Refused for this run's checks, not for its bytes: a run with
                    // --allow-unsigned reads it.
                    let error = format!(
                        "no {SIGN_FILE} beside it, so nothing shows it is what CloudTrail Lake wrote \
                         (pass --allow-unsigned to import it anyway)"
                    );
                    return Ok(Payload::Refused { raw, error, retry: true });
                }
                Ok(Some(sign)) => match sign.check_file(name, &raw) {
                    FileCheck::Valid => {}
                    FileCheck::Altered { listed, actual } => {
                        return refused(format!(
                            "its SHA-256 is {actual}, not the {listed} that {SIGN_FILE} lists: the file was \
                             changed after CloudTrail Lake wrote it"
                        ));
                    }
                    FileCheck::NotListed => {
                        let error = format!("{SIGN_FILE} does not list {name}");
                        return Ok(Payload::Refused { raw, error, retry: true });
                    }
                },
            }
        }
        let max = self.max_inflated;
        let bytes = raw.clone();
        let converted = tokio::task::spawn_blocking(move || records(&bytes, max))
            .await
            .map_err(|e| IngestError::Config(format!("reading task failed: {e}")))?;
        Ok(match converted {
            Ok(r) => {
                if r.empty > 0 {
                    tracing::warn!(file = %obj.uri, rows = r.empty, "Result rows with an empty eventJson were left out.");
                }
                Payload::Fetched(r.document.into())
            }
            Err(e) => Payload::Refused { raw, error: e.to_string(), retry: false },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_into_folder_and_name() {
        assert_eq!(split("s3://b/AWSLogs/1/CloudTrail-Lake/Query/2025/01/02/q1/result_1.csv.gz").1, "result_1.csv.gz");
        assert_eq!(split("/x/q1/result_1.csv.gz"), ("/x/q1", "result_1.csv.gz"));
        assert_eq!(split("result_1.csv.gz"), ("", "result_1.csv.gz"));
    }

    #[test]
    fn a_result_files_ledger_name_is_admitted_and_a_plain_ingest_passes_results_by() {
        use crate::layout::{canonical_name, is_ingestible};
        let name = "AWSLogs/CloudTrail-Lake/37382170-182d-42ed-9df9-5aaf0b4b9511/result_1.csv.gz";
        assert!(is_ingestible(name));
        assert_eq!(canonical_name(name), name);
        let in_bucket = "AWSLogs/111122223333/CloudTrail-Lake/Query/2025/01/02/37382170-182d-42ed-9df9-5aaf0b4b9511/result_1.csv.gz";
        assert!(!is_ingestible(in_bucket));
    }
}
