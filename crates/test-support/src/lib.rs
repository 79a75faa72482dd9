//! What the workspace's integration tests share (each crate's `tests/it/` binary depends on
//! it as a dev-dependency): where the real CloudTrail datasets are, the local services a
//! test needs (the S3/SQS server, the Python readers, the browser) with one clear line
//! naming the script that provides one when it is missing, source events read back with
//! serde_json as the independent truth, and the `trailhouse` binary as a user runs it.
//!
//! A test fails by panicking, so the helpers here panic too, with a message that says what
//! was missing or what failed.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// The real CloudTrail files the tests read (`tests/data/` at the repository root; see its
/// README for where they come from and their licences).
pub fn datasets() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    match here.ancestors().map(|d| d.join("tests/data")).find(|d| d.join("invictus-aws-stratus").is_dir()) {
        Some(p) => p,
        None => panic!(
            "the test datasets are missing: expected tests/data/invictus-aws-stratus in {} or a folder above it",
            here.display()
        ),
    }
}

/// Events and log files in [`datasets`].
pub const DATASET_EVENTS: u64 = 2_900 + 21;
pub const DATASET_FILES: u64 = 55 + 2;

/// The value of `var`, which `scripts/test.sh` sets after providing `what`; missing, the
/// test stops with one line saying what it needs and how to get it.
fn required(var: &str, what: &str, how: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("this test needs {what}: run it through scripts/test.sh, or {how} and set {var}"),
    }
}

/// The local S3/SQS server (moto) that scripts/test.sh starts on 127.0.0.1.
pub fn endpoint() -> String {
    required(
        "TRAILHOUSE_TEST_ENDPOINT",
        "the local S3/SQS server",
        "start one with `scripts/moto.sh start PIDFILE` (it prints the endpoint)",
    )
}

/// The Python with the tools the tests compare against (deltalake, duckdb, the AWS CLI:
/// scripts/requirements-test.txt) that scripts/test.sh installs in `.venv`.
pub fn python() -> String {
    required(
        "TRAILHOUSE_TEST_PYTHON",
        "Python with deltalake, duckdb and the AWS CLI",
        "run `scripts/moto.sh install` (it makes .venv) and point it at .venv/bin/python",
    )
}

/// ChromeDriver for Debian's Chromium, which `scripts/browser.sh install` provides (and
/// prints the path of); Debian's own path when the variable is not set.
pub fn chromedriver() -> String {
    const DEBIAN: &str = "/usr/bin/chromedriver";
    if std::env::var_os("TRAILHOUSE_TEST_CHROMEDRIVER").is_none() && Path::new(DEBIAN).is_file() {
        return DEBIAN.into();
    }
    required(
        "TRAILHOUSE_TEST_CHROMEDRIVER",
        "a headless browser",
        "run `scripts/browser.sh install` (it prints the driver)",
    )
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

/// A gzipped JSON file (a log file, a digest) parsed by serde_json.
pub fn gz_json(path: &Path) -> serde_json::Value {
    use std::io::Read;
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&raw[..]).read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every `.json.gz` file under `dir` with its events parsed by serde_json, keyed by path.
pub fn source_events(dir: &Path) -> HashMap<String, Vec<serde_json::Value>> {
    let mut out = HashMap::new();
    for p in log_files(dir) {
        let doc = gz_json(&p);
        out.insert(p.display().to_string(), doc["Records"].as_array().unwrap().clone());
    }
    out
}

/// The datasets' log files: (key under the bucket, bytes, events), sorted by key.
pub fn dataset_files() -> Vec<(String, Vec<u8>, u64)> {
    let mut out: Vec<_> = source_events(&datasets())
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

/// Copies the folder tree `from` to `to` (a lake, to change a copy of it).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
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

/// The `trailhouse` binary as a user would run it, without what the shell running the
/// tests may have set for it: every `TRAILHOUSE_*` variable (a lake, a rules folder, a
/// webhook, any flag's `TRAILHOUSE_<COMMAND>_<FLAG>`) but the tests' own `TRAILHOUSE_TEST_*`
/// ones; no colours, and no proxy for the local servers. Only the root package's tests,
/// which cargo builds the binary for, can run it.
pub fn trailhouse() -> Command {
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("TRAILHOUSE_") && !k.starts_with("TRAILHOUSE_TEST_") {
            c.env_remove(k.as_ref());
        }
    }
    c.env("NO_COLOR", "1").env("NO_PROXY", "127.0.0.1");
    // The prompt's history goes to the state directory: a test's, never the user's.
    c.env("XDG_STATE_HOME", std::env::temp_dir().join("trailhouse-tests-state"));
    c
}

/// Runs `c`, asserts it succeeded (showing its stderr if not) and returns its stdout.
pub fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{:?} failed:\n{}", c, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_service_is_named_in_one_line_with_the_script_that_provides_it() {
        let var = "TRAILHOUSE_TEST_SET_BY_NOBODY";
        let caught = std::panic::catch_unwind(|| {
            super::required(var, "the local S3/SQS server", "start one with `scripts/moto.sh start PIDFILE`")
        });
        let payload = caught.expect_err("an unset variable stops the test");
        let message = payload.downcast_ref::<String>().expect("a formatted message");
        assert!(!message.contains('\n'), "{message}");
        for part in ["needs the local S3/SQS server", "scripts/test.sh", "scripts/moto.sh start", var] {
            assert!(message.contains(part), "{part:?} missing from {message:?}");
        }
    }
}
