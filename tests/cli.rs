//! The `trailhouse` binary, run as a user would.
// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{keys_under, run_ok, trailhouse, upload_trail};

/// `generate --json ARGS --out logs`: its summary.
fn generate_json(logs: &Path, args: &[&str]) -> serde_json::Value {
    let out = run_ok(trailhouse().args(["generate", "--json"]).args(args).arg("--out").arg(logs));
    serde_json::from_str(out.trim()).unwrap()
}

fn ingest_json(source: &Path, lake: &Path) -> serde_json::Value {
    let out = run_ok(trailhouse().args(["ingest", "--json", "--source"]).arg(source).arg("--lake").arg(lake));
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn help_teaches_the_commands() {
    let out = run_ok(trailhouse().arg("--help"));
    for cmd in ["generate", "ingest", "demo", "sql", "export", "compact", "rules", "detect", "verify", "cluster"] {
        assert!(out.contains(cmd), "--help lacks {cmd}:\n{out}");
    }
    let out = run_ok(trailhouse().args(["ingest", "--help"]));
    assert!(out.contains("s3://bucket/prefix") && out.contains("--json"), "{out}");
}

#[test]
fn generate_then_ingest_reports_exact_counts_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let g: serde_json::Value = serde_json::from_str(
        run_ok(
            trailhouse()
                .args(["generate", "--json", "--events", "3000", "--accounts", "2", "--seed", "9", "--out"])
                .arg(&logs),
        )
        .trim(),
    )
    .unwrap();
    let s = ingest_json(&logs, &dir.path().join("lake"));
    assert_eq!(s["events"], g["events"]);
    assert_eq!(s["files"], g["files"]);
    assert_eq!(s["files_quarantined"], 0);
    let again = ingest_json(&logs, &dir.path().join("lake"));
    assert_eq!(again["events"], 0);
    assert_eq!(again["files_already_ingested"], g["files"]);

    let out = run_ok(
        trailhouse().args(["sql", "--lake"]).arg(dir.path().join("lake")).arg("SELECT count(*) AS n FROM cloudtrail"),
    );
    assert!(out.contains(&g["events"].to_string()), "{out}");
}

#[test]
fn errors_are_one_clear_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let out = trailhouse()
        .args(["ingest", "--source"])
        .arg(dir.path().join("nope"))
        .arg("--lake")
        .arg(dir.path().join("lake"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error:") && err.contains("nope") && !err.contains("panicked"), "{err}");
    assert_eq!(err.matches("no such file or folder").count(), 1, "each cause once: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = trailhouse().args(["sql", "--lake"]).arg(dir.path().join("empty")).arg("SELECT 1").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no lake here") && err.contains("trailhouse ingest"), "{err}");
}

#[test]
fn demo_generates_ingests_and_shows_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(trailhouse().current_dir(dir.path()).args(["demo", "--events", "3000"]));
    assert!(out.contains("What is in the lake"), "{out}");
    assert!(out.contains("Root"), "{out}");
    // The detection pack ran over the new data and its alerts are in the lake.
    assert!(
        out.contains("Detections: ") && out.contains("console-brute-force") && out.contains("cloudtrail-tampering"),
        "{out}"
    );
    assert!(dir.path().join("lake/alerts/_delta_log").is_dir());
    assert!(dir.path().join("lake/cloudtrail/_delta_log").is_dir());
    assert!(dir.path().join("sample-logs/generated/planted.tsv").is_file());
}

/// Runs a one-lane backfill of `logs` into `lake` and SIGKILLs it as soon as `marker`
/// exists (polled; the backfill must not end first).
fn backfill_killed_once(logs: &Path, lake: &Path, args: &[&str], marker: &Path) {
    let mut child = trailhouse()
        .args(["ingest", "--lanes", "1"])
        .args(args)
        .arg("--source")
        .arg(logs)
        .arg("--lake")
        .arg(lake)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the backfill ended before {} appeared", marker.display());
        assert!(Instant::now() < deadline, "no {} within 300 s", marker.display());
        std::thread::park_timeout(Duration::from_millis(5));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "the backfill finished before the kill; make the corpus larger");
}

/// kill -9 in the middle of a run: the lake shows nothing of it; the next run completes.
#[test]
fn a_killed_run_leaves_nothing_half_visible() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let lake = dir.path().join("lake");
    let g: serde_json::Value = serde_json::from_str(
        run_ok(trailhouse().args(["generate", "--json", "--events", "300000", "--accounts", "2", "--out"]).arg(&logs))
            .trim(),
    )
    .unwrap();
    // A bad file sorting first: its quarantine copy tells us the run is under way.
    let bad = logs.join("AWSLogs/000000000000/CloudTrail/us-east-1/2026/11/02");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("bad.json.gz"), b"not gzip, not json").unwrap();

    let marker = lake.join("quarantine/AWSLogs/000000000000/CloudTrail/us-east-1/2026/11/02/bad.json.gz.error.json");
    backfill_killed_once(&logs, &lake, &[], &marker);

    let out = run_ok(trailhouse().args(["sql", "--lake"]).arg(&lake).arg("SELECT count(*) AS n FROM cloudtrail"));
    let n: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(n["n"], 0, "rows visible after a kill:\n{out}");

    let s = ingest_json(&logs, &lake);
    assert_eq!(s["events"], g["events"]);
    assert_eq!(s["files_quarantined"], 1);
    let out = run_ok(
        trailhouse()
            .args(["sql", "--lake"])
            .arg(&lake)
            .arg("SELECT count(*) = count(DISTINCT eventid) AS unique_ids, count(*) AS n FROM cloudtrail"),
    );
    assert!(out.contains("true") && out.contains(&g["events"].to_string()), "{out}");
}

/// SQL over `lake`, one JSON object per row.
fn sql_rows(lake: &Path, q: &str) -> Vec<serde_json::Value> {
    let out = run_ok(trailhouse().args(["sql", "--lake"]).arg(lake).arg(q));
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A backfill that commits as it goes, SIGKILLed after its second commit: what it committed
/// stays, and the rerun reads only what it had not committed (a committed log file is
/// overwritten with zeros of the same length before the rerun: read, it would be
/// quarantined as corrupt).
#[test]
fn a_killed_backfill_resumes_after_its_last_commit_and_reads_nothing_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let lake = dir.path().join("lake");
    let g = generate_json(&logs, &["--events", "200000", "--accounts", "2", "--seed", "21"]);
    let (events, files) = (g["events"].as_u64().unwrap(), g["files"].as_u64().unwrap());

    // The ledger's commit is the last step of each backfill commit; version 0 created it.
    let second = lake.join("ingested_files/_delta_log/00000000000000000002.json");
    backfill_killed_once(&logs, &lake, &["--commit-every", "512KB"], &second);

    // What the killed run committed is in the lake, each event once. (A kill between a
    // commit's data and its ledger rows leaves more rows than the ledger says, until the
    // next run repairs the ledger and skips those files too.)
    let committed = sql_rows(&lake, "SELECT uri, events FROM ingested_files WHERE status = 'ingested'");
    let kept: u64 = committed.iter().map(|r| r["events"].as_u64().unwrap()).sum();
    let n = &sql_rows(&lake, "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail")[0];
    assert!(committed.len() >= 2 && (committed.len() as u64) < files, "{} of {files} files committed", committed.len());
    assert!(n["n"].as_u64().unwrap() >= kept && n["n"] == n["ids"], "{n} after the kill; the ledger holds {kept}");

    for r in &committed {
        let path = Path::new(r["uri"].as_str().unwrap());
        let len = std::fs::metadata(path).unwrap().len();
        std::fs::write(path, vec![0u8; len as usize]).unwrap();
    }
    let s = ingest_json(&logs, &lake);
    assert_eq!(s["files_quarantined"], 0, "the rerun read a committed file: {s}");
    let skipped = s["files_already_ingested"].as_u64().unwrap();
    assert!(skipped >= committed.len() as u64, "{s}");
    assert_eq!(s["files"].as_u64().unwrap() + skipped, files);
    let n = &sql_rows(&lake, "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail")[0];
    assert_eq!((n["n"].as_u64().unwrap(), n["ids"].as_u64().unwrap()), (events, events));
}

#[test]
fn compact_merges_small_files_keeps_every_row_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    run_ok(trailhouse().args(["generate", "--events", "2000", "--accounts", "1", "--out"]).arg(&logs));
    let lake = dir.path().join("lake");
    // Several runs make several small files per day.
    let sub = logs.join("AWSLogs");
    let orgs: Vec<_> = std::fs::read_dir(&sub).unwrap().map(|e| e.unwrap().path()).collect();
    let regions_root = std::fs::read_dir(&orgs[0]).unwrap().next().unwrap().unwrap().path().join("CloudTrail");
    for region in std::fs::read_dir(&regions_root).unwrap() {
        ingest_json(&region.unwrap().path(), &lake);
    }
    let count = |sql: &str| run_ok(trailhouse().args(["sql", "--lake"]).arg(&lake).arg(sql));
    let before = count("SELECT count(*) AS n FROM cloudtrail");
    let files_before = std::fs::read_dir(lake.join("cloudtrail/eventdate=2026-11-02")).unwrap().count();
    let out = run_ok(trailhouse().args(["compact", "--retention-hours", "0", "--lake"]).arg(&lake));
    assert!(out.starts_with("Compacted"), "{out}");
    let files_after = std::fs::read_dir(lake.join("cloudtrail/eventdate=2026-11-02")).unwrap().count();
    assert!(files_after < files_before, "{files_before} -> {files_after}");
    assert_eq!(count("SELECT count(*) AS n FROM cloudtrail"), before);
    // Readers start from the checkpoint, not from a replay of every small file's actions.
    for table in ["cloudtrail", "ingested_files"] {
        let log = lake.join(table).join("_delta_log");
        let checkpoints = std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".checkpoint.parquet"))
            .count();
        assert_eq!(checkpoints, 1, "{}", log.display());
    }
    // The compacted files carry a bloom filter on each needle column (an access key, an IP)
    // in every row group, and none on the others.
    let day = lake.join("cloudtrail/eventdate=2026-11-02");
    for file in std::fs::read_dir(&day).unwrap() {
        let file = std::fs::File::open(file.unwrap().path()).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(
            &parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap(),
        )
        .clone();
        for rg in meta.row_groups() {
            for c in rg.columns() {
                let path = c.column_path().string();
                let needle = ["useridentity.accesskeyid", "sourceipaddress", "eventid"].contains(&path.as_str());
                let plain = ["eventname", "useridentity.type", "requestparameters"].contains(&path.as_str());
                assert!(!needle || c.bloom_filter_offset().is_some(), "{path} has no bloom filter");
                assert!(!plain || c.bloom_filter_offset().is_none(), "{path} has a bloom filter");
            }
        }
    }
}

/// Each Delta table of `lake` as the Python `deltalake` package and DuckDB read it (every
/// file its log names, read whole): table -> rows.
fn independent_table_rows(lake: &Path) -> serde_json::Value {
    let python = std::env::var("TRAILHOUSE_TEST_PYTHON")
        .expect("TRAILHOUSE_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs deltalake");
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/independent_reader.py"))
        .arg("--tables")
        .arg(lake)
        .output()
        .unwrap();
    assert!(out.status.success(), "the Python deltalake reader failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A compaction rewrites the ledger's files; the ingests after it must still see every
/// log file as ingested once. (They re-added the compacted-away ledger files: duplicate
/// ledger rows, and with `--retention-hours 0` a ledger whose files were gone, so that
/// every later ingest failed.) Both retentions; new files and old ones after each.
#[test]
fn ingest_after_compact_keeps_one_ledger_row_per_log_file() {
    for retention in ["0", "168"] {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let days: Vec<(std::path::PathBuf, serde_json::Value)> =
            [("a", "2026-11-03", "3"), ("b", "2026-11-04", "4"), ("c", "2026-11-05", "5")]
                .into_iter()
                .map(|(name, start, seed)| {
                    let out = dir.path().join(name);
                    let g = generate_json(&out, &["--events", "2000", "--start", start, "--seed", seed]);
                    (out, g)
                })
                .collect();
        let total = |key: &str| days.iter().map(|(_, g)| g[key].as_u64().unwrap()).sum::<u64>();
        for (logs, _) in &days[..2] {
            ingest_json(logs, &lake);
        }
        run_ok(trailhouse().args(["compact", "--retention-hours", retention, "--lake"]).arg(&lake));

        let s = ingest_json(&days[2].0, &lake);
        assert_eq!(s["events"], days[2].1["events"], "retention {retention}: {s}");
        // A second compaction, now over ledger files written before and after the first.
        run_ok(trailhouse().args(["compact", "--retention-hours", retention, "--lake"]).arg(&lake));
        for (logs, g) in &days {
            let again = ingest_json(logs, &lake);
            assert_eq!(again["events"], 0, "retention {retention}: re-ingest of {}: {again}", logs.display());
            assert_eq!(again["files_already_ingested"], g["files"], "retention {retention}: {again}");
        }

        let ledger = &sql_rows(
            &lake,
            "SELECT count(*) AS n, count(DISTINCT name) AS names FROM ingested_files WHERE status = 'ingested'",
        )[0];
        assert_eq!(ledger["n"].as_u64(), Some(total("files")), "retention {retention}: {ledger}");
        assert_eq!(ledger["names"].as_u64(), Some(total("files")), "retention {retention}: {ledger}");
        let events = &sql_rows(&lake, "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail")[0];
        assert_eq!((events["n"].as_u64(), events["ids"].as_u64()), (Some(total("events")), Some(total("events"))));

        let tables = independent_table_rows(&lake);
        assert_eq!(tables["cloudtrail"].as_u64(), Some(total("events")), "retention {retention}: {tables}");
        assert_eq!(tables["ingested_files"].as_u64(), Some(total("files")), "retention {retention}: {tables}");
    }
}

/// Two hours of an organization trail's generated logs, two accounts in six regions, under
/// `dir/bucket`, with signed digests naming `bucket` (`generate --digests`): (the folder,
/// its public-keys file).
fn signed_trail(dir: &Path, events: &str, seed: &str, bucket: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let logs = dir.join("bucket");
    run_ok(
        trailhouse()
            .args(["generate", "--digests", "--bucket", bucket, "--events", events, "--accounts", "2", "--seed", seed])
            .args(["--minutes", "115", "--out"])
            .arg(&logs),
    );
    let keys = logs.join("public-keys.json");
    (logs, keys)
}

/// The findings of `verify --json` output, all chains together.
fn findings_of(stdout: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(stdout)
        .unwrap()
        .lines()
        .flat_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["findings"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn verify_passes_an_untouched_trail_and_reports_each_tampering_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, keys) = signed_trail(dir.path(), "400", "5", "trail-bucket");
    let verify = || {
        let mut c = trailhouse();
        c.args(["verify", "--json", "--public-keys"]).arg(&keys).arg("--source").arg(&logs);
        c
    };
    let out = verify().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let reports: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 12, "one chain per account and region");
    assert!(reports.iter().all(|r| r["findings"].as_array().unwrap().is_empty() && r["digests_valid"] == 2));

    // Tamper: edit one log file, delete another, forge a third.
    let log_keys: Vec<String> =
        keys_under(&logs).into_iter().filter(|k| k.contains("/CloudTrail/us-east-1/")).collect();
    let (edited, deleted) = (&log_keys[0], &log_keys[1]);
    let edited_raw = integrity::gunzip(&std::fs::read(logs.join(edited)).unwrap()).unwrap();
    let edited_raw = String::from_utf8(edited_raw).unwrap().replacen("\"eventName\":\"", "\"eventName\":\"X", 1);
    std::fs::write(logs.join(edited), integrity::signer::gzip(edited_raw.as_bytes())).unwrap();
    std::fs::remove_file(logs.join(deleted)).unwrap();
    let forged = edited.replace(".json.gz", "-forged.json.gz");
    std::fs::write(logs.join(&forged), integrity::signer::gzip(b"{\"Records\":[]}")).unwrap();

    let out = verify().output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let findings = findings_of(out.stdout);
    let of = |problem: &str| -> Vec<String> {
        findings.iter().filter(|f| f["problem"] == problem).map(|f| f["key"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(of("log_altered"), vec![edited.clone()]);
    assert_eq!(of("log_missing"), vec![deleted.clone()]);
    assert_eq!(of("log_unlisted"), vec![forged]);
    assert_eq!(findings.len(), 3, "{findings:?}");

    // Text output names the problem and the file.
    let mut text = trailhouse();
    text.args(["verify", "--public-keys"]).arg(&keys).arg("--source").arg(&logs);
    let out = text.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&format!("log {edited}: ALTERED")) && stdout.contains("3 problems."), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reads_signatures_from_s3_metadata_and_saves_them_for_an_offline_copy() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("trail-{}", uuid::Uuid::new_v4().simple());
    let (logs, keys) = signed_trail(dir.path(), "200", "6", &bucket);

    // The bucket as CloudTrail leaves it: digests carry their signature as object metadata.
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(common::endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let digests = upload_trail(&s3, &bucket, &logs).await;
    let saved = dir.path().join("saved");
    let source = format!("s3://{bucket}/AWSLogs/");
    let verify = |extra: &[&str]| {
        let mut c = trailhouse();
        c.args(["verify", "--json", "--endpoint-url", &common::endpoint(), "--source", &source, "--public-keys"])
            .arg(&keys)
            .args(extra);
        c.output().unwrap()
    };
    let out = verify(&["--save-signatures", saved.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let checked: u64 = reports.iter().map(|r| r["digests_valid"].as_u64().unwrap()).sum();
    assert_eq!(checked, digests);
    assert!(reports.iter().all(|r| r["signatures_unchecked"] == 0));
    let sidecars = keys_under(&saved);
    assert_eq!(sidecars.len() as u64, digests);
    assert!(sidecars.iter().all(|k| k.ends_with(".json.gz.signature")));

    // A log file replaced in the bucket and a digest's signature metadata forged.
    let log = keys_under(&logs).into_iter().find(|k| k.contains("/CloudTrail/eu-west-1/")).unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(&log)
        .body(integrity::signer::gzip(b"{\"Records\":[]}").into())
        .send()
        .await
        .unwrap();
    let digest = keys_under(&logs)
        .into_iter()
        .find(|k| k.contains("/CloudTrail-Digest/us-west-2/") && k.ends_with(".json.gz"))
        .unwrap();
    let forged = integrity::signer::Signer::generate().unwrap().sign_hex(b"something else").unwrap();
    let body = std::fs::read(logs.join(&digest)).unwrap();
    s3.put_object().bucket(&bucket).key(&digest).body(body.into()).metadata("signature", forged).send().await.unwrap();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(4));
    let findings = findings_of(out.stdout);
    assert!(findings.iter().any(|f| f["problem"] == "log_altered" && f["key"] == log.as_str()), "{findings:?}");
    assert!(
        findings.iter().any(|f| f["problem"] == "invalid_signature" && f["key"] == digest.as_str()),
        "{findings:?}"
    );
}

/// Gives the local server's CloudTrail `region` these public keys (`list-public-keys`
/// output): no AWS API creates them, so scripts/moto_server.py takes them like moto's own
/// `/moto-api/static/` results.
fn seed_public_keys(region: &str, keys: &Path) {
    use std::io::{Read, Write};
    let mut body: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(keys).unwrap()).unwrap();
    body["region"] = region.into();
    let body = body.to_string();
    let endpoint = common::endpoint();
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /moto-api/static/cloudtrail/public-keys HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_over_s3_with_keys_from_list_public_keys_reports_each_tampering_once_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("trail-{}", uuid::Uuid::new_v4().simple());
    let logs = dir.path().join("bucket");
    // An organization trail of two accounts in every generated region, tampered with.
    run_ok(
        trailhouse()
            .args(["generate", "--tamper", "--bucket", &bucket, "--events", "3000", "--accounts", "2"])
            .args(["--minutes", "240", "--out"])
            .arg(&logs),
    );
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(common::endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let digests = upload_trail(&s3, &bucket, &logs).await;
    let regions: std::collections::BTreeSet<String> = keys_under(&logs)
        .iter()
        .filter_map(|k| integrity::folder::classify(k).map(|(_, region, _)| region.to_string()))
        .collect();
    assert!(regions.len() >= 4, "{regions:?}");
    for region in &regions {
        seed_public_keys(region, &logs.join("public-keys.json"));
    }
    let planted: Vec<(String, String)> = std::fs::read_to_string(logs.join("planted.tsv"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f[3].starts_with("tamper-").then(|| (f[3].to_string(), f[4].to_string()))
        })
        .collect();
    assert_eq!(planted.len(), 4);
    // No --public-keys: each region's keys come from ListPublicKeys in that region.
    let verify = |extra: &[&str]| {
        let mut c = trailhouse();
        c.args(["verify", "--json", "--endpoint-url", &common::endpoint(), "--source", &format!("s3://{bucket}")])
            .args(extra);
        c.output().unwrap()
    };
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = out.stdout.clone();
    let reports: Vec<serde_json::Value> =
        String::from_utf8(stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let valid: u64 = reports.iter().map(|r| r["digests_valid"].as_u64().unwrap()).sum();
    assert_eq!(valid, digests, "each digest in the bucket is signed by a key ListPublicKeys gives");
    let findings = findings_of(out.stdout);
    for (what, key) in &planted {
        let problem = match what.as_str() {
            "tamper-log-altered" => "log_altered",
            "tamper-log-deleted" => "log_missing",
            "tamper-log-added" => "log_unlisted",
            "tamper-digest-deleted" => "digest_missing",
            other => panic!("{other}"),
        };
        let about: Vec<_> = findings.iter().filter(|f| f["key"] == key.as_str()).collect();
        assert_eq!(about.len(), 1, "{what} {key}: {findings:#?}");
        assert_eq!(about[0]["problem"], problem, "{about:?}");
    }
    // Besides those: the deleted digest's hour is a gap and its log files are in no digest.
    assert!(findings.iter().all(|f| planted.iter().any(|(_, k)| f["key"] == k.as_str())
        || f["problem"] == "chain_gap"
        || f["problem"] == "log_unlisted"));
    // The hours after the tampering verify clean.
    let out = verify(&["--since", "2026-11-02T03:00:00Z", "--until", "2026-11-02T04:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(findings_of(out.stdout).is_empty());
}

/// `scripts/awscli_digests.py` with the test venv's Python (awscli's validator).
fn awscli_digests(args: &[&std::ffi::OsStr]) -> String {
    let python = std::env::var("TRAILHOUSE_TEST_PYTHON")
        .expect("TRAILHOUSE_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs awscli");
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/awscli_digests.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The digests awscli's validator rejects, by key.
fn awscli_rejects(root: &Path, keys: &Path) -> Vec<String> {
    let out = awscli_digests(&["check".as_ref(), root.as_os_str(), keys.as_os_str()]);
    let mut bad: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["valid"] == false)
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    bad.sort();
    bad
}

/// The digests `trailhouse verify` finds a bad signature on, by key.
fn trailhouse_rejects(root: &Path, keys: &Path) -> Vec<String> {
    let out =
        trailhouse().args(["verify", "--json", "--public-keys"]).arg(keys).arg("--source").arg(root).output().unwrap();
    let mut bad: Vec<String> = findings_of(out.stdout)
        .iter()
        .filter(|f| f["problem"] == "invalid_signature")
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    bad.sort();
    bad
}

/// Edits a digest's content (drops its last log file) and keeps its old signature.
fn edit_digest(root: &Path, key: &str) {
    let raw = integrity::gunzip(&std::fs::read(root.join(key)).unwrap()).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["logFiles"].as_array_mut().unwrap().pop();
    std::fs::write(root.join(key), integrity::signer::gzip(v.to_string().as_bytes())).unwrap();
}

#[test]
fn our_digests_pass_the_aws_clis_validator_and_its_signatures_pass_ours() {
    let dir = tempfile::tempdir().unwrap();
    // Ours, checked by awscli: all valid; then an edited digest and a forged signature,
    // rejected by both, and nothing else.
    let (logs, keys) = signed_trail(dir.path(), "200", "7", "trail-bucket");
    assert_eq!(awscli_rejects(&logs, &keys), Vec::<String>::new());
    let digests: Vec<String> = keys_under(&logs)
        .into_iter()
        .filter(|k| k.contains("/CloudTrail-Digest/") && k.ends_with(".json.gz"))
        .collect();
    edit_digest(&logs, &digests[0]);
    let forger = integrity::signer::Signer::generate().unwrap();
    std::fs::write(logs.join(format!("{}.signature", digests[3])), forger.sign_hex(b"forged").unwrap()).unwrap();
    let expected = vec![digests[0].clone(), digests[3].clone()];
    assert_eq!(awscli_rejects(&logs, &keys), expected);
    assert_eq!(trailhouse_rejects(&logs, &keys), expected);

    // Signed the CLI's way (its string-to-sign, python-rsa), checked by us: valid; an edit
    // is rejected by both.
    let theirs = dir.path().join("theirs");
    run_ok(
        trailhouse()
            .args(["generate", "--events", "200", "--accounts", "1", "--seed", "8", "--minutes", "115", "--out"])
            .arg(&theirs),
    );
    awscli_digests(&["sign".as_ref(), theirs.as_os_str()]);
    let their_keys = theirs.join("public-keys.json");
    let out =
        trailhouse().args(["verify", "--public-keys"]).arg(&their_keys).arg("--source").arg(&theirs).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let their_digests: Vec<String> = keys_under(&theirs)
        .into_iter()
        .filter(|k| k.contains("/CloudTrail-Digest/") && k.ends_with(".json.gz"))
        .collect();
    edit_digest(&theirs, &their_digests[1]);
    assert_eq!(awscli_rejects(&theirs, &their_keys), vec![their_digests[1].clone()]);
    assert_eq!(trailhouse_rejects(&theirs, &their_keys), vec![their_digests[1].clone()]);
}

/// What a first-time user gets wrong is told in one line, and leaves nothing behind: a
/// source that does not exist or is empty makes no lake folder, a folder with no CloudTrail
/// log file exits 2 unless `--allow-empty`, `--lake` naming a file says so, a table not
/// written yet names the command that writes it, and `-v` on a new lake logs no error.
#[test]
fn mistakes_at_the_start_get_one_line_and_leave_no_lake_behind() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let ingest = |source: &Path, extra: &[&str]| {
        let mut c = trailhouse();
        c.args(["ingest"]).args(extra).arg("--source").arg(source).arg("--lake").arg(&lake);
        c.output().unwrap()
    };
    let out = ingest(&dir.path().join("nowhere"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = ingest(&empty, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("nothing under") && err.contains("--allow-empty"), "{err}");
    assert!(!lake.exists(), "a failed ingest made a lake folder");

    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("README.txt"), "not a log").unwrap();
    let out = ingest(&notes, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("none of them a CloudTrail log file"), "{err}");
    assert_eq!(ingest(&notes, &["--allow-empty"]).status.code(), Some(0));

    let out = trailhouse().args(["sql", "--lake"]).arg(&lake).arg("SELECT * FROM alerts").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no alerts table yet") && err.contains("trailhouse detect"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = trailhouse().args(["ingest", "--source"]).arg(&notes).arg("--lake").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this is a file; a lake is a folder") && !err.contains("os error"), "{err}");

    let logs = dir.path().join("logs");
    run_ok(trailhouse().args(["generate", "--events", "200", "--accounts", "1", "--out"]).arg(&logs));
    let out = trailhouse()
        .args(["-v", "ingest", "--source"])
        .arg(&logs)
        .arg("--lake")
        .arg(dir.path().join("new"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("ERROR") && !err.contains("No files in log segment"), "{err}");
}

/// A backfill stopped with SIGINT (Ctrl-C) says what it kept and how to resume, and exits
/// 130; the rerun finishes with every event once.
#[test]
fn a_backfill_stopped_by_a_signal_says_what_it_kept_and_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let lake = dir.path().join("lake");
    let g = generate_json(&logs, &["--events", "200000", "--accounts", "2", "--seed", "22"]);
    let mut child = trailhouse()
        .args(["ingest", "--lanes", "1", "--commit-every", "512KB", "--source"])
        .arg(&logs)
        .arg("--lake")
        .arg(&lake)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The second ledger commit (version 0 created the table): something is kept.
    let marker = lake.join("ingested_files/_delta_log/00000000000000000002.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !marker.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the backfill ended before its second commit");
        assert!(Instant::now() < deadline, "no second commit within 300 s");
        std::thread::park_timeout(Duration::from_millis(5));
    }
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let said = err.lines().find(|l| l.starts_with("Stopped. Kept ")).unwrap_or_else(|| panic!("{err}"));
    assert!(said.contains("Run the same command again to resume"), "{said}");
    let kept: u64 = said["Stopped. Kept ".len()..].split(' ').next().unwrap().parse().unwrap();
    let ledger = &sql_rows(&lake, "SELECT count(*) AS n FROM ingested_files WHERE status = 'ingested'")[0];
    // What it says it kept is in the lake (a signal landing inside a commit may keep that
    // commit too, unannounced).
    let in_ledger = ledger["n"].as_u64().unwrap();
    assert!(kept > 0 && in_ledger >= kept, "{said}; the ledger holds {in_ledger}");

    let s = ingest_json(&logs, &lake);
    assert!(s["files_already_ingested"].as_u64().unwrap() >= in_ledger, "{s}");
    let n = &sql_rows(&lake, "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail")[0];
    assert_eq!((n["n"].as_u64(), n["ids"].as_u64()), (g["events"].as_u64(), g["events"].as_u64()));
}

#[test]
fn rules_lint_names_a_misspelt_event_with_its_line_and_closest_names() {
    let dir = tempfile::tempdir().unwrap();
    let rule = std::fs::read_to_string("detections/rules/root-console-login.toml").unwrap();
    let bad = rule.replacen("'ConsoleLogin'", "'ConsoleLogon'", 1);
    std::fs::write(dir.path().join("root-console-login.toml"), &bad).unwrap();
    let line = bad.lines().position(|l| l.contains("'ConsoleLogon'")).unwrap() + 1;

    let out = trailhouse().args(["rules", "lint", "--rules"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let expected =
        format!("root-console-login.toml:{line}: rule root-console-login: unknown event name \"ConsoleLogon\"");
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(stdout.contains("closest known event names: ConsoleLogin"), "{stdout}");
    assert!(stdout.contains("1 findings"), "{stdout}");

    // Loading the folder for anything else warns and goes on.
    let out = trailhouse().args(["rules", "list", "--rules"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: "), "the load warns");

    // The built-in packs are clean.
    let out = run_ok(trailhouse().args(["rules", "lint", "--pack", "all"]));
    assert!(out.contains("0 findings"), "{out}");
}

/// scripts/count-tests.sh, which scripts/test.sh runs over each whole run's output: a test
/// binary that ran nothing, or fewer passing tests than recorded, fails the run; more
/// raises the record.
#[test]
fn the_test_count_check_refuses_an_empty_binary_and_a_shrinking_suite() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("test-count");
    let check = |log: &str| {
        let path = dir.path().join("out.log");
        std::fs::write(&path, log).unwrap();
        std::process::Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/count-tests.sh"))
            .arg(&path)
            .env("TRAILHOUSE_TEST_COUNT_FILE", &record)
            .output()
            .unwrap()
    };
    let binary = |name: &str, n: usize| {
        format!(
            "     Running tests/{name}.rs (target/debug/deps/{name}-0)\n\nrunning {n} tests\n\ntest result: ok. {n} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n"
        )
    };
    std::fs::write(&record, "5\n").unwrap();
    let grown = check(&(binary("a", 3) + &binary("b", 4)));
    assert!(grown.status.success(), "{}", String::from_utf8_lossy(&grown.stderr));
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), "7", "the record rises with the suite");
    let shrunk = check(&binary("a", 3));
    assert!(!shrunk.status.success());
    assert!(String::from_utf8_lossy(&shrunk.stderr).contains("fewer than the 7 recorded"));
    let empty = check(&(binary("a", 3) + &binary("b", 4) + &binary("c", 0)));
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("tests/c.rs (target/debug/deps/c-0) ran no test"));
    // A crate without doc examples runs no doc test: not an empty binary.
    let docs = "   Doc-tests cluster\n\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    assert!(check(&(binary("a", 3) + &binary("b", 4) + docs)).status.success());
    // Criterion's benchmarks in test mode print no libtest summary: not a binary to count.
    let bench = "     Running benches/stages.rs (target/debug/deps/stages-0)\nTesting stages/x\nSuccess\n";
    assert!(check(&(binary("a", 3) + &binary("b", 4) + bench)).status.success());
}
