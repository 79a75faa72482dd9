//! Helpers shared by the binary's integration tests (on top of the ingest crate's).
#![allow(dead_code)]

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
