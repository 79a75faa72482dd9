//! The `trailhouse` binary at its front door, run as a user would: `--help`, the demo,
//! `generate` then `ingest`, and the mistakes of a first run told in one line.

use std::path::Path;

use test_support::{run_ok, trailhouse};

/// `generate --json ARGS --out logs`: its summary.
pub(crate) fn generate_json(logs: &Path, args: &[&str]) -> serde_json::Value {
    let out = run_ok(trailhouse().args(["generate", "--json"]).args(args).arg("--out").arg(logs));
    serde_json::from_str(out.trim()).unwrap()
}

pub(crate) fn ingest_json(source: &Path, lake: &Path) -> serde_json::Value {
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

/// One run's log lines can be picked out of a shared log: a backfill's carry a
/// `backfill{run=..}` span, each commit's a `commit{run=ID ..}` span naming the run id the
/// ledger records for its files, and a detection run's a `detect{run=ID}` span naming the
/// run id of its `detection_runs` row.
#[test]
fn log_lines_carry_the_run_they_belong_to() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    generate_json(&logs, &["--events", "300", "--seed", "3"]);
    let out = trailhouse().args(["-v", "ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    let start = log.lines().find(|l| l.contains("Backfill starting.")).unwrap_or_else(|| panic!("{log}"));
    assert!(start.contains("backfill{run="), "{start}");
    let sql = |q: &str| run_ok(trailhouse().args(["sql", "--format", "csv", "--lake"]).arg(&lake).arg(q));
    let ledger_runs = sql("SELECT DISTINCT run_id FROM ingested_files");
    let ledger_runs: Vec<&str> = ledger_runs.lines().skip(1).collect();
    assert!(!ledger_runs.is_empty());
    for id in ledger_runs {
        let committed =
            log.lines().find(|l| l.contains("Window committed.") && l.contains(&format!("commit{{run={id} ")));
        let committed = committed.unwrap_or_else(|| panic!("no commit line names the ledger's run id {id}:\n{log}"));
        assert!(committed.contains("backfill{run="), "the commit is inside its backfill: {committed}");
    }

    let out = trailhouse().args(["-v", "detect", "--all", "--format", "ndjson", "--lake"]).arg(&lake).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    let runs = sql("SELECT run_id FROM detection_runs");
    let run = runs.lines().nth(1).unwrap();
    let grouped = log.lines().find(|l| l.contains("Incidents grouped.")).unwrap_or_else(|| panic!("{log}"));
    assert!(grouped.contains(&format!("detect{{run={run}}}")), "{grouped}\nrun id {run}");
}
