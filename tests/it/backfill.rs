//! Backfill under interruption: a run killed at any moment leaves nothing half visible and
//! resumes after its last commit; `compact` keeps every row and the ledger; a signal stops a
//! run with a word on what it kept.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{run_ok, trailhouse};

use crate::cli::{generate_json, ingest_json};

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
pub(crate) fn sql_rows(lake: &Path, q: &str) -> Vec<serde_json::Value> {
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
pub(crate) fn independent_table_rows(lake: &Path) -> serde_json::Value {
    let python = test_support::python();
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
