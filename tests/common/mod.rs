//! Helpers shared by the binary's integration tests (on top of the ingest crate's).
#![allow(dead_code)]

use std::path::Path;

#[path = "../../ingest/tests/common/mod.rs"]
mod ingest_common;

pub use ingest_common::{datasets, endpoint};

/// The datasets' log files: (key under the bucket, bytes, events), sorted by key.
pub fn dataset_files() -> Vec<(String, Vec<u8>, u64)> {
    let mut out: Vec<_> = ingest_common::source_events(&datasets())
        .into_iter()
        .map(|(path, events)| {
            let key = path[path.find("AWSLogs/").unwrap()..].to_string();
            (key, std::fs::read(&path).unwrap(), events.len() as u64)
        })
        .collect();
    out.sort();
    out
}

/// The files under `root`, as keys (`/`-separated, relative), sorted.
pub fn keys_under(root: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                keys.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    keys.sort();
    keys
}

/// Puts a local trail folder into `bucket` (which exists) as CloudTrail leaves it: each
/// digest's signature in its object metadata. Returns the number of digests.
pub async fn upload_trail(s3: &aws_sdk_s3::Client, bucket: &str, logs: &Path) -> u64 {
    let mut digests = 0;
    for key in keys_under(logs).into_iter().filter(|k| k.ends_with(".json.gz")) {
        let body = std::fs::read(logs.join(&key)).unwrap();
        let mut put = s3.put_object().bucket(bucket).key(&key).body(body.into());
        if key.contains("/CloudTrail-Digest/") {
            let sig = std::fs::read_to_string(logs.join(format!("{key}.signature"))).unwrap();
            put = put.metadata("signature", sig).metadata("signature-algorithm", "SHA256withRSA");
            digests += 1;
        }
        put.send().await.unwrap();
    }
    digests
}
