//! Where log files come from: a local folder or an S3 prefix.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::aws::AwsOptions;
pub use crate::object::{Payload, SourceObject};
use crate::{IngestError, Result};

/// A source of log files.
#[derive(Debug, Clone)]
pub enum Source {
    Local { root: PathBuf },
    S3 { client: aws_sdk_s3::Client, bucket: String, prefix: String },
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
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
            });
        }
        Ok(Source::Local { root })
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            Source::Local { root } => root.display().to_string(),
            Source::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Lists every object under the source, sending each to `tx` in key order (per page).
    pub async fn list(&self, tx: tokio::sync::mpsc::Sender<SourceObject>) -> Result<u64> {
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
                    let page = page.map_err(|e| IngestError::S3 {
                        op: "ListObjectsV2",
                        bucket: bucket.clone(),
                        key: prefix.clone(),
                        message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
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
        }
    }

    /// What the lanes need to decode one object: an S3 object is downloaded whole; a
    /// local file is read by the lane itself, into a reused buffer.
    pub async fn payload(&self, obj: &SourceObject) -> Result<Payload> {
        match self {
            Source::Local { .. } => Ok(Payload::LocalFile),
            Source::S3 { client, bucket, .. } => fetch_s3(client, bucket, &obj.key).await.map(Payload::Fetched),
        }
    }
}

impl Source {
    /// A digest file with its signature: the object's `signature` metadata (S3), or a
    /// `<file>.signature` sidecar beside it (a local copy; none: `None`).
    pub async fn digest(&self, obj: &SourceObject) -> Result<crate::continuous::ArrivedDigest> {
        match self {
            Source::Local { .. } => {
                let io = |source| IngestError::Io { path: obj.uri.clone(), source };
                let gz = tokio::fs::read(&obj.uri).await.map_err(io)?;
                let signature = tokio::fs::read_to_string(format!("{}.signature", obj.uri))
                    .await
                    .ok()
                    .map(|s| s.trim().to_string());
                Ok(crate::continuous::ArrivedDigest { object: obj.clone(), bucket: None, gz: gz.into(), signature })
            }
            Source::S3 { client, bucket, .. } => fetch_digest_s3(client, bucket, obj.clone()).await,
        }
    }

    /// Where a digest's listed log files are looked for when the lake lacks them.
    pub fn store(&self) -> crate::continuous::Store {
        match self {
            Source::Local { root } => crate::continuous::Store::Local { root: root.clone() },
            Source::S3 { client, .. } => crate::continuous::Store::S3(client.clone()),
        }
    }
}

/// GETs a digest file with its `signature` metadata.
pub async fn fetch_digest_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    obj: SourceObject,
) -> Result<crate::continuous::ArrivedDigest> {
    let err = |message: String| IngestError::S3 {
        op: "GetObject",
        bucket: bucket.to_string(),
        key: obj.key.clone(),
        message,
    };
    let out = client
        .get_object()
        .bucket(bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let signature = out.metadata().and_then(|m| m.get("signature")).map(|s| s.trim().to_string());
    let gz = out.body.collect().await.map_err(|e| err(e.to_string()))?.into_bytes();
    let mut obj = obj;
    obj.size = gz.len() as i64;
    Ok(crate::continuous::ArrivedDigest { object: obj, bucket: Some(bucket.to_string()), gz, signature })
}

/// GETs one S3 object whole.
pub async fn fetch_s3(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Bytes> {
    let err = |message: String| IngestError::S3 {
        op: "GetObject",
        bucket: bucket.to_string(),
        key: key.to_string(),
        message,
    };
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let body = out.body.collect().await.map_err(|e| err(e.to_string()))?;
    Ok(body.into_bytes())
}

/// Walks `root` depth first, each folder in name order, sending every file as it is
/// found: the lanes start on the first folder while the rest is listed (a month of an
/// organization trail is millions of files). Returns how many were sent; stops early when
/// the receiver has gone.
fn walk(root: &Path, tx: &tokio::sync::mpsc::Sender<SourceObject>) -> Result<u64> {
    let io = |p: &Path, source| IngestError::Io { path: p.display().to_string(), source };
    if root.is_file() {
        let meta = std::fs::metadata(root).map_err(|e| io(root, e))?;
        let name = root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let obj = SourceObject { uri: root.display().to_string(), key: name, size: meta.len() as i64, etag: None };
        return Ok(u64::from(tx.blocking_send(obj).is_ok()));
    }
    let mut sent = 0;
    // Folders still to walk, with their key prefix ("" or "a/b/").
    let mut stack = vec![(root.to_path_buf(), String::new())];
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
