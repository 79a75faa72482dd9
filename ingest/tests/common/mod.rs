//! Helpers shared by the ingest integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ingest::aws::AwsOptions;
use ingest::backfill::BackfillOptions;

/// The real CloudTrail files the tests read (`tests/data/` at the repository root; see its
/// README for where they come from and their licences).
pub fn datasets() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.ancestors().map(|d| d.join("tests/data")).find(|d| d.join("invictus-aws-stratus").is_dir()) {
        Some(p) => p,
        None => panic!(
            "the test datasets are missing: expected tests/data/invictus-aws-stratus in {} or a folder above it",
            manifest.display()
        ),
    }
}

pub const DATASET_EVENTS: u64 = 2_900 + 21;
pub const DATASET_FILES: u64 = 55 + 2;

/// The local S3/SQS server started by scripts/test.sh.
pub fn endpoint() -> String {
    std::env::var("TRAILHOUSE_TEST_ENDPOINT").expect(
        "TRAILHOUSE_TEST_ENDPOINT is not set: run the tests with scripts/test.sh, which starts the local S3/SQS server",
    )
}

pub fn aws() -> AwsOptions {
    AwsOptions { endpoint_url: Some(endpoint()), region: Some("us-east-1".into()) }
}

pub fn quiet() -> BackfillOptions {
    BackfillOptions { lanes: 2, ..Default::default() }
}

/// Every `.json.gz` file under `dir`.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for e in entries {
            let p = e.unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display())).path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                out.push(p);
            }
        }
    }
    out
}

/// Every `.json.gz` file under `dir` with its events parsed by serde_json, keyed by path.
pub fn source_events(dir: &Path) -> HashMap<String, Vec<serde_json::Value>> {
    let mut out = HashMap::new();
    for p in log_files(dir) {
        let raw = std::fs::read(&p).unwrap();
        let mut text = String::new();
        use std::io::Read;
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_string(&mut text).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        out.insert(p.display().to_string(), doc["Records"].as_array().unwrap().clone());
    }
    out
}
