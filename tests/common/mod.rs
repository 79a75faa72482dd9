//! Helpers shared by the binary's integration tests (on top of the ingest crate's).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

#[path = "../../ingest/tests/common/mod.rs"]
mod ingest_common;

#[allow(unused_imports)] // not every test binary uses both
pub use ingest_common::{datasets, endpoint};

/// The `trailhouse` binary as a user would run it, without what the shell running the
/// tests may have set for it: every `TRAILHOUSE_*` variable (a lake, a rules folder, a
/// webhook, any flag's `TRAILHOUSE_<COMMAND>_<FLAG>`) but the tests' own `TRAILHOUSE_TEST_*`
/// ones; no colours, and no proxy for the local servers.
pub fn trailhouse() -> Command {
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("TRAILHOUSE_") && !k.starts_with("TRAILHOUSE_TEST_") {
            c.env_remove(k.as_ref());
        }
    }
    c.env("NO_COLOR", "1").env("NO_PROXY", "127.0.0.1");
    c
}

/// Runs `c`, asserts it succeeded (showing its stderr if not) and returns its stdout.
pub fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{:?} failed:\n{}", c, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

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
