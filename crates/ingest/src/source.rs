//! Where log files come from: a local folder or an S3 prefix.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::aws::AwsOptions;
use crate::aws::failure::{body_failure, explain};
pub use crate::object::{Payload, SourceObject};
use crate::{IngestError, Result};

/// A source of log files.
#[derive(Debug, Clone)]
pub enum Source {
    Local {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
    /// CloudTrail Lake's saved query results under a folder or prefix.
    LakeResults(std::sync::Arc<crate::lake_results::LakeResults>),
}

impl Source {
    /// `s3://bucket[/prefix]` or a local folder (or a single file).
    pub async fn parse(location: &str, aws: &AwsOptions) -> Result<Source> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(IngestError::Location(location.to_string()));
            }
            return Ok(Source::S3 {
                client: aws.s3_client().await,
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if location.contains("://") {
            return Err(IngestError::Location(location.to_string()));
        }
        let root = PathBuf::from(location);
        if !root.exists() {
            return Err(IngestError::Io {
                path: location.to_string(),
                cause: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        }
        Ok(Source::Local { root })
    }

    /// Whether the source holds at least one object (a file under a folder, a key under an
    /// S3 prefix): one small request, made before a lake is opened, so that a mistyped
    /// prefix or a bucket that cannot be read fails before anything is created.
    pub async fn has_objects(&self) -> Result<bool> {
        match self {
            Source::Local { root } => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || any_file(&root))
                    .await
                    .map_err(|e| IngestError::Config(format!("listing task failed: {e}")))
            }
            Source::S3 { client, bucket, prefix } => {
                let out =
                    client.list_objects_v2().bucket(bucket).prefix(prefix).max_keys(1).send().await.map_err(|e| {
                        IngestError::Aws(explain(&e, "ListObjectsV2", &format!("s3://{bucket}/{prefix}")))
                    })?;
                Ok(!out.contents().is_empty())
            }
            Source::LakeResults(r) => Box::pin(r.inner.has_objects()).await,
        }
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            Source::Local { root } => root.display().to_string(),
            Source::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            Source::LakeResults(r) => format!("CloudTrail Lake results under {}", r.inner.describe()),
        }
    }

    /// Lists every object under the source, sending each to `tx` in key order (per page).
    pub async fn list(&self, tx: tokio::sync::mpsc::Sender<SourceObject>) -> Result<u64> {
        match self {
            Source::LakeResults(r) => r.list(tx).await,
            files => files.list_files(tx).await,
        }
    }

    /// [`Source::list`] of a folder or prefix.
    pub(crate) async fn list_files(&self, tx: tokio::sync::mpsc::Sender<SourceObject>) -> Result<u64> {
        match self {
            Source::Local { root } => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || walk(&root, &tx))
                    .await
                    .map_err(|e| IngestError::Config(format!("listing task failed: {e}")))?
            }
            Source::S3 { client, bucket, prefix } => {
                let mut n = 0;
                let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| {
                        IngestError::Aws(explain(&e, "ListObjectsV2", &format!("s3://{bucket}/{prefix}")))
                    })?;
                    for o in page.contents() {
                        let Some(key) = o.key() else { continue };
                        n += 1;
                        let obj = SourceObject {
                            uri: format!("s3://{bucket}/{key}"),
                            key: key.to_string(),
                            size: o.size().unwrap_or(0),
                            etag: o.e_tag().map(|s| s.trim_matches('"').to_string()),
                        };
                        if tx.send(obj).await.is_err() {
                            return Ok(n);
                        }
                    }
                }
                Ok(n)
            }
            Source::LakeResults(_) => Err(IngestError::Config("CloudTrail Lake results inside results".into())),
        }
    }

    /// What the lanes need to decode one object: an S3 object is downloaded whole; a
    /// local file is read by the lane itself, into a reused buffer.
    pub async fn payload(&self, obj: &SourceObject) -> Result<Payload> {
        match self {
            Source::Local { .. } => Ok(Payload::LocalFile),
            Source::S3 { client, bucket, .. } => fetch_s3(client, bucket, &obj.key).await.map(Payload::Fetched),
            Source::LakeResults(r) => r.payload(obj).await,
        }
    }
}

impl Source {
    /// A digest file with its signature: the object's `signature` metadata (S3), or a
    /// `<file>.signature` sidecar beside it (a local copy; none: `None`).
    pub async fn digest(&self, obj: &SourceObject) -> Result<crate::digest_check::ArrivedDigest> {
        match self {
            Source::Local { .. } => {
                let io = |cause| IngestError::Io { path: obj.uri.clone(), cause };
                let gz = tokio::fs::read(&obj.uri).await.map_err(io)?;
                let signature = tokio::fs::read_to_string(format!("{}.signature", obj.uri))
                    .await
                    .ok()
                    .map(|s| s.trim().to_string());
                Ok(crate::digest_check::ArrivedDigest { object: obj.clone(), bucket: None, gz: gz.into(), signature })
            }
            Source::S3 { client, bucket, .. } => fetch_digest_s3(client, bucket, obj.clone()).await,
            // Its keys are never a digest's.
            Source::LakeResults(_) => Err(IngestError::Config(format!("{} is not a digest file", obj.uri))),
        }
    }

    /// Where a digest's listed log files are looked for when the lake lacks them.
    pub fn store(&self) -> crate::digest_check::Store {
        match self {
            Source::Local { root } => crate::digest_check::Store::Local { root: root.clone() },
            Source::S3 { client, .. } => crate::digest_check::Store::S3(client.clone()),
            Source::LakeResults(r) => r.inner.store(),
        }
    }
}

/// GETs a digest file with its `signature` metadata.
pub async fn fetch_digest_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    obj: SourceObject,
) -> Result<crate::digest_check::ArrivedDigest> {
    let resource = format!("s3://{bucket}/{}", obj.key);
    let out = client
        .get_object()
        .bucket(bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| IngestError::Aws(explain(&e, "GetObject", &resource)))?;
    let signature = out.metadata().and_then(|m| m.get("signature")).map(|s| s.trim().to_string());
    let gz =
        out.body.collect().await.map_err(|e| IngestError::Aws(body_failure(&e, "GetObject", &resource)))?.into_bytes();
    let mut obj = obj;
    obj.size = gz.len() as i64;
    Ok(crate::digest_check::ArrivedDigest { object: obj, bucket: Some(bucket.to_string()), gz, signature })
}

/// Every key under an S3 prefix (one listing, all pages).
pub async fn list_keys_s3(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| IngestError::Aws(explain(&e, "ListObjectsV2", &format!("s3://{bucket}/{prefix}"))))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
    }
    Ok(keys)
}

/// GETs one S3 object whole, or `None` when S3 says it does not exist (the typed
/// NoSuchKey / 404, not a match on the message's text).
pub async fn fetch_s3_if_exists(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<Bytes>> {
    match fetch_s3(client, bucket, key).await {
        Ok(b) => Ok(Some(b)),
        Err(IngestError::Aws(f)) if f.kind == crate::aws::failure::FailureKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// GETs one S3 object whole.
pub async fn fetch_s3(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Bytes> {
    let resource = format!("s3://{bucket}/{key}");
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| IngestError::Aws(explain(&e, "GetObject", &resource)))?;
    let body = out.body.collect().await.map_err(|e| IngestError::Aws(body_failure(&e, "GetObject", &resource)))?;
    Ok(body.into_bytes())
}

/// Whether `root` is a file or a folder with a file somewhere below it.
fn any_file(root: &Path) -> bool {
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_file() {
            return true;
        }
        if let Ok(entries) = std::fs::read_dir(&p) {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    false
}

/// The key of `path` from its `AWSLogs` folder on (`AWSLogs/o-x/111122223333/`, with a
/// trailing `/` for a folder), when it lies inside one: a file read from a subfolder of a
/// copy of the bucket gets the same key, and so the same ledger name, as when read from
/// the copy's root or from S3.
pub(crate) fn layout_prefix(path: &Path) -> Option<String> {
    let absolute = std::fs::canonicalize(path).ok()?;
    let parts: Vec<String> = absolute.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
    let at = parts.iter().position(|p| p == "AWSLogs")?;
    let mut key = parts[at..].join("/");
    if absolute.is_dir() {
        key.push('/');
    }
    Some(key)
}

/// Walks `root` depth first, each folder in name order, sending every file as it is
/// found: the lanes start on the first folder while the rest is listed (a month of an
/// organization trail is millions of files). Returns how many were sent; stops early when
/// the receiver has gone.
fn walk(root: &Path, tx: &tokio::sync::mpsc::Sender<SourceObject>) -> Result<u64> {
    let io = |p: &Path, cause| IngestError::Io { path: p.display().to_string(), cause };
    let base = layout_prefix(root);
    if root.is_file() {
        let meta = std::fs::metadata(root).map_err(|e| io(root, e))?;
        let name = root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let key = base.map_or(name, |b| b.trim_end_matches('/').to_string());
        let obj = SourceObject { uri: root.display().to_string(), key, size: meta.len() as i64, etag: None };
        return Ok(u64::from(tx.blocking_send(obj).is_ok()));
    }
    let mut sent = 0;
    // Folders still to walk, with their key prefix ("", "a/b/", or "AWSLogs/.../" when the
    // folder given is inside a copy of the bucket's layout).
    let mut stack = vec![(root.to_path_buf(), base.unwrap_or_default())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| io(&dir, e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| io(&dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        let mut folders = vec![];
        for e in entries {
            let path = e.path();
            let ft = e.file_type().map_err(|err| io(&path, err))?;
            let key = format!("{prefix}{}", e.file_name().to_string_lossy());
            if ft.is_dir() {
                folders.push((path, key + "/"));
            } else if ft.is_file() {
                let size = e.metadata().map_err(|err| io(&path, err))?.len() as i64;
                let obj = SourceObject { uri: path.display().to_string(), key, size, etag: None };
                if tx.blocking_send(obj).is_err() {
                    return Ok(sent);
                }
                sent += 1;
            }
        }
        stack.extend(folders.into_iter().rev());
    }
    Ok(sent)
}
