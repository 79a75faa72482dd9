//! A crash at each named moment of the commit protocol ([`lake::failpoint`]): the real
//! binary, started with one failpoint armed, dies exactly there (it says which on stderr,
//! then aborts as `kill -9` would: nothing flushed, nothing deleted, no destructor run); a
//! restart then leaves every event of the source in the lake once (compared with the
//! generator's event ids), one ledger row per log file and per digest, every digest
//! checked valid, no SQS message lost and no alert raised twice. docs/reliability.md lists
//! the points and what each of these tests proves.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lake::failpoint::{POINTS, VARIABLE};
use test_support::{endpoint, gz_json, keys_under, run_ok, trailhouse, upload_trail};

use crate::backfill::{independent_table_rows, sql_rows};
use crate::local_aws::{bucket_and_queue, clients, notify, queue_depth};

/// A generated trail: its folder, its public keys and what the lake must end up holding.
struct Trail {
    logs: PathBuf,
    keys: PathBuf,
    /// Every event id of its log files, sorted.
    ids: Vec<String>,
    /// Log files and digest files.
    files: u64,
    digests: u64,
}

/// `events` events of one account over two hours from `start` (`seed` makes the event ids),
/// with signed digests for `bucket`, under `dir/name`.
fn trail(dir: &Path, name: &str, events: &str, start: &str, seed: &str, bucket: &str) -> Trail {
    let logs = dir.join(name);
    run_ok(
        trailhouse()
            .args(["generate", "--digests", "--bucket", bucket, "--events", events, "--accounts", "1"])
            .args(["--start", start, "--minutes", "115", "--seed", seed, "--out"])
            .arg(&logs),
    );
    let (mut ids, mut files, mut digests) = (vec![], 0, 0);
    for key in keys_under(&logs).into_iter().filter(|k| k.ends_with(".json.gz")) {
        if key.contains("/CloudTrail-Digest/") {
            digests += 1;
            continue;
        }
        files += 1;
        let doc = gz_json(&logs.join(&key));
        for r in doc["Records"].as_array().unwrap() {
            ids.push(r["eventID"].as_str().unwrap().to_string());
        }
    }
    ids.sort();
    let keys = logs.join("public-keys.json");
    Trail { logs, keys, ids, files, digests }
}

/// Runs `c` with `point` (`name` or `name@n`) armed and asserts that it died there: aborted
/// (SIGABRT, as no error path ends) right after saying that point was hit.
fn crashes_at(c: &mut Command, point: &str) {
    let name = point.split('@').next().unwrap();
    assert!(POINTS.contains(&name), "{name} is not a failpoint");
    let out = c.env(VARIABLE, point).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(6), "{point}: the process was not aborted ({}):\n{err}", out.status);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with(&format!("failpoint {name} hit")), "{point}: it died elsewhere:\n{err}");
}

/// The lake holds exactly `trails`: each event once and no other, one `ingested` ledger row
/// per log file and one `digest` row per digest, each digest's signature valid and every
/// log file vouched for by one, and the Python deltalake reader reads every table.
fn holds_exactly(lake: &Path, trails: &[&Trail]) {
    let mut want: Vec<&str> = trails.iter().flat_map(|t| t.ids.iter().map(String::as_str)).collect();
    want.sort_unstable();
    let rows = sql_rows(lake, "SELECT eventid FROM cloudtrail ORDER BY eventid");
    let got: Vec<&str> = rows.iter().map(|r| r["eventid"].as_str().unwrap()).collect();
    if got != want {
        let dups = got.windows(2).filter(|w| w[0] == w[1]).count();
        panic!("the lake holds {} events ({dups} repeated), the source {}", got.len(), want.len());
    }
    // The hourly rollup summarizes exactly those events, day by day (`count(eventid)`: the
    // rollup cannot answer it, so it counts the events themselves).
    let summarized = sql_rows(lake, "SELECT eventdate, sum(events) AS n FROM rollups GROUP BY 1 ORDER BY 1");
    let counted = sql_rows(lake, "SELECT eventdate, count(eventid) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1");
    assert_eq!(summarized, counted, "the rollup's events per day against the events'");
    let (files, digests) = trails.iter().fold((0, 0), |(f, d), t| (f + t.files, d + t.digests));
    let ledger = sql_rows(
        lake,
        "SELECT status, count(*) AS n, count(DISTINCT name) AS names FROM ingested_files \
         GROUP BY status ORDER BY status",
    );
    let row = |status: &str| {
        let r = ledger.iter().find(|r| r["status"] == status);
        r.map(|r| (r["n"].as_u64().unwrap(), r["names"].as_u64().unwrap())).unwrap_or_default()
    };
    assert_eq!(row("ingested"), (files, files), "ingested log files in the ledger: {ledger:?}");
    assert_eq!(row("digest"), (digests, digests), "digests in the ledger: {ledger:?}");
    assert_eq!(row("valid").1, files, "log files a digest vouches for: {ledger:?}");
    // (`pending` rows may stay: a digest that arrives before the files it lists records them
    // pending, and the `valid` row written when each lands supersedes that row.)
    for bad in ["quarantined", "altered", "missing"] {
        assert_eq!(row(bad), (0, 0), "{bad} rows in the ledger: {ledger:?}");
    }
    // A crash between recording a digest and committing its ledger row checks it again: a
    // second `integrity` row for the same digest is by design (readers take the newest).
    let integrity = &sql_rows(
        lake,
        "SELECT count(DISTINCT digest) AS digests, \
                count(DISTINCT CASE WHEN status = 'valid' THEN digest END) AS valid \
         FROM integrity",
    )[0];
    assert_eq!(integrity["digests"].as_u64(), Some(digests), "{integrity}");
    assert_eq!(integrity["valid"].as_u64(), Some(digests), "{integrity}");
    let tables = independent_table_rows(lake);
    assert_eq!(tables["cloudtrail"].as_u64(), Some(want.len() as u64), "{tables}");
}

/// A folder backfill committing every 40 KB read, checking digests with the trail's keys.
fn backfill(t: &Trail, lake: &Path) -> Command {
    let mut c = trailhouse();
    c.args(["ingest", "--json", "--lanes", "1", "--commit-every", "40KB", "--public-keys"])
        .arg(&t.keys)
        .arg("--source")
        .arg(&t.logs)
        .arg("--lake")
        .arg(lake);
    c
}

/// Kills a backfill at `point`, reruns it to the end, and checks the lake; a third run
/// must add nothing.
fn backfill_survives(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let t = trail(dir.path(), "logs", "2500", "2026-11-03", "7", "trail-bucket");
    let lake = dir.path().join("lake");
    crashes_at(&mut backfill(&t, &lake), point);
    run_ok(&mut backfill(&t, &lake));
    holds_exactly(&lake, &[&t]);
    let again: serde_json::Value = serde_json::from_str(run_ok(&mut backfill(&t, &lake)).trim()).unwrap();
    assert_eq!(again["events"], 0, "{again}");
    assert_eq!(again["files_already_ingested"].as_u64(), Some(t.files + t.digests), "{again}");
}

// The second window of a backfill (the first is committed by then: the rerun must skip
// what it holds and add the rest).

#[test]
fn a_backfill_killed_after_writing_a_windows_data_files_reruns_to_every_event_once() {
    backfill_survives("ingest.data-written@2");
}

#[test]
fn a_backfill_killed_after_writing_a_windows_ledger_file_reruns_to_every_event_once() {
    backfill_survives("lake.ledger-written@2");
}

/// The moment the ledger repair exists for: the events are in, the ledger says nothing.
#[test]
fn a_backfill_killed_between_the_events_commit_and_the_ledger_commit_reruns_to_every_event_once() {
    backfill_survives("lake.events-committed@2");
}

/// The events and the ledger are in, the rollup's commit is not: the rerun repairs it.
#[test]
fn a_backfill_killed_before_the_rollup_commit_reruns_to_every_event_once_and_a_rollup_in_step() {
    backfill_survives("lake.ledger-committed@2");
}

#[test]
fn a_backfill_killed_after_all_three_commits_reruns_to_every_event_once() {
    backfill_survives("lake.rollup-committed@2");
}

/// The digests' window: their `integrity` rows are in, their ledger rows are not.
#[test]
fn a_backfill_killed_after_recording_its_digests_reruns_to_every_digest_checked_once() {
    backfill_survives("ingest.integrity-recorded");
}

/// The SQS service: a trail uploaded to a bucket, one S3 notification per object.
struct Queued {
    trail: Trail,
    queue: String,
    sqs: aws_sdk_sqs::Client,
    messages: u64,
    dir: tempfile::TempDir,
}

async fn queued() -> Queued {
    let (s3, sqs) = clients().await;
    let (bucket, queue) = bucket_and_queue(&s3, &sqs, "crash").await;
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), "logs", "1500", "2026-11-03", "7", &bucket);
    upload_trail(&s3, &bucket, &trail.logs).await;
    let keys: Vec<String> = keys_under(&trail.logs).into_iter().filter(|k| k.ends_with(".json.gz")).collect();
    notify(&sqs, &queue, &bucket, &keys).await;
    Queued { trail, queue, sqs, messages: keys.len() as u64, dir }
}

impl Queued {
    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    /// One `--once` pass of the service (messages it held come back 2 s after a crash).
    fn service(&self) -> Command {
        let mut c = trailhouse();
        c.args(["ingest", "--json", "--once", "--flush-secs", "1", "--visibility-secs", "2"])
            .args(["--queue-url", &self.queue, "--endpoint-url", &endpoint(), "--public-keys"])
            .arg(&self.trail.keys)
            .arg("--lake")
            .arg(self.lake());
        c
    }

    async fn depth(&self) -> u64 {
        queue_depth(&self.sqs, &self.queue).await
    }

    /// Runs the service until the queue is empty (polled; the deadline bounds a hang).
    async fn drain(&self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            run_ok(&mut self.service());
            if self.depth().await == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the queue never drained: {} messages left", self.depth().await);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Kills the service at `point` with every message still on the queue, then drains it.
async fn service_survives(point: &str) {
    let q = queued().await;
    crashes_at(&mut q.service(), point);
    assert_eq!(q.depth().await, q.messages, "a message was deleted before its window was committed");
    q.drain().await;
    holds_exactly(&q.lake(), &[&q.trail]);
}

/// Committed, not deleted: the redelivered messages must add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_killed_before_deleting_committed_messages_adds_nothing_twice() {
    service_survives("sqs.before-delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_killed_between_the_events_commit_and_the_ledger_commit_adds_nothing_twice() {
    service_survives("lake.events-committed").await;
}

/// A compaction (vacuum with no retention) killed after its commit or its vacuum, then run
/// again; old and new trails ingested after it land once.
fn compaction_survives(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let old = trail(dir.path(), "old", "1500", "2026-11-03", "7", "trail-bucket");
    let new = trail(dir.path(), "new", "1500", "2026-11-05", "8", "trail-bucket");
    let lake = dir.path().join("lake");
    run_ok(&mut backfill(&old, &lake));
    let compact = || {
        let mut c = trailhouse();
        c.args(["compact", "--retention-hours", "0", "--lake"]).arg(&lake);
        c
    };
    crashes_at(&mut compact(), point);
    run_ok(&mut compact());
    run_ok(&mut backfill(&new, &lake));
    run_ok(&mut backfill(&old, &lake));
    holds_exactly(&lake, &[&old, &new]);
}

#[test]
fn a_compaction_killed_between_its_commit_and_its_vacuum_loses_and_repeats_nothing() {
    compaction_survives("compact.optimized");
}

/// The ledger's vacuum (the second table compacted), before its checkpoint.
#[test]
fn a_compaction_killed_between_the_ledgers_vacuum_and_its_checkpoint_loses_and_repeats_nothing() {
    compaction_survives("compact.vacuumed@2");
}

/// The rollup folded (a day's files merged into one), its vacuum not run.
#[test]
fn a_compaction_killed_after_folding_the_rollup_loses_and_repeats_nothing() {
    compaction_survives("compact.rollup-folded");
}

/// A detection run killed between writing its alerts and moving its watermark: the rerun
/// reads the same window again and raises no alert twice (the same alerts as a run that
/// was never killed, on a second lake of the same logs).
#[test]
fn a_detection_run_killed_before_its_watermark_raises_no_alert_twice() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    run_ok(trailhouse().args(["generate", "--events", "4000", "--accounts", "2", "--seed", "3", "--out"]).arg(&logs));
    let alerts = |lake: &Path| {
        sql_rows(lake, "SELECT alert_id, rule_id FROM alerts ORDER BY alert_id")
            .into_iter()
            .map(|r| format!("{} {}", r["alert_id"], r["rule_id"]))
            .collect::<Vec<_>>()
    };
    let detect = |lake: &Path| {
        let mut c = trailhouse();
        c.args(["detect", "--format", "ndjson", "--lake"]).arg(lake);
        c
    };
    let [killed, clean] = ["killed", "clean"].map(|name| {
        let lake = dir.path().join(name);
        run_ok(trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake));
        lake
    });
    crashes_at(&mut detect(&killed), "detect.alerts-recorded");
    let written = alerts(&killed);
    assert!(!written.is_empty(), "the killed run wrote no alert before dying");
    // Exit status 3 says alerts were raised; the rerun raises none (0): they are in.
    let rerun = detect(&killed).output().unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", String::from_utf8_lossy(&rerun.stderr));
    let once = detect(&clean).output().unwrap();
    assert_eq!(once.status.code(), Some(3), "{}", String::from_utf8_lossy(&once.stderr));
    assert_eq!(alerts(&killed), alerts(&clean));
    assert_eq!(alerts(&killed), written, "the rerun raised alerts the killed run had not written");
}

/// Every failpoint is exercised by a test above (a new point needs its own test).
#[test]
fn every_failpoint_has_a_crash_test() {
    let source = include_str!("crash.rs");
    for point in POINTS {
        assert!(source.contains(&format!("\"{point}")), "no crash test arms {point}");
    }
}
