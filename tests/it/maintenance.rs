//! Maintenance at any time: `compact` while the SQS service ingests, `detect --every` runs
//! and the console serves. They all keep working through it, every event lands once, each
//! log file has one ledger row and no alert is raised twice.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{endpoint, keys_under, run_ok, trailhouse};

use crate::backfill::{independent_table_rows, sql_rows};
use crate::console::{Server, get};
use crate::local_aws::{bucket_and_queue, clients, notify, queue_depth};

/// The newest version of a local Delta table (its newest commit file).
fn table_version(table: &Path) -> u64 {
    std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".json")?.parse::<u64>().ok())
        .max()
        .unwrap()
}

/// When each `WRITE` commit of a local Delta table was made (ms since the epoch).
fn write_commit_times(table: &Path) -> Vec<i64> {
    let mut times = vec![];
    for e in std::fs::read_dir(table.join("_delta_log")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if action["commitInfo"]["operation"] == "WRITE" {
                times.push(action["commitInfo"]["timestamp"].as_i64().unwrap());
            }
        }
    }
    times
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn stop(mut child: Child, what: &str, log: &Path) {
    assert!(child.try_wait().unwrap().is_none(), "{what} died:\n{}", std::fs::read_to_string(log).unwrap());
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{what} did not stop cleanly ({status}):\n{}", std::fs::read_to_string(log).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_while_ingesting_detecting_and_serving_loses_and_repeats_nothing() {
    let (s3, sqs) = clients().await;
    let (bucket, queue) = bucket_and_queue(&s3, &sqs, "maint").await;
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    // An hour with a root login without MFA and a root access key made in it: alerts.
    let mut generate = trailhouse();
    generate.args(["generate", "--json", "--events", "4000", "--accounts", "1", "--seed", "3"]);
    generate.args(["--start", "2026-11-02T03:00:00Z", "--minutes", "60", "--out"]).arg(&logs);
    let g: serde_json::Value = serde_json::from_str(run_ok(&mut generate).trim()).unwrap();
    let keys: Vec<String> = keys_under(&logs).into_iter().filter(|k| k.ends_with(".json.gz")).collect();
    for key in &keys {
        let body = std::fs::read(logs.join(key)).unwrap();
        s3.put_object().bucket(&bucket).key(key).body(body.into()).send().await.unwrap();
    }
    // The lake exists before the console opens it: a first batch, ingested with a backfill.
    let (first, rest) = keys.split_at(keys.len() / 4);
    let first_dir = dir.path().join("first");
    for key in first {
        let to = first_dir.join(key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(logs.join(key), to).unwrap();
    }
    run_ok(trailhouse().args(["ingest", "--source"]).arg(&first_dir).arg("--lake").arg(&lake));

    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let service = trailhouse()
        .args(["ingest", "--queue-url", &queue, "--endpoint-url", &endpoint(), "--flush-secs", "1"])
        .args(["--stats-secs", "3600", "--metrics-addr", "127.0.0.1:0", "--lake"])
        .arg(&lake)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log("ingest")).unwrap())
        .spawn()
        .unwrap();
    let detect = trailhouse()
        .args(["detect", "--every", "2s", "--format", "ndjson", "--lake"])
        .arg(&lake)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log("detect")).unwrap())
        .spawn()
        .unwrap();
    let console = Server::start(&lake, &[], None);

    let deadline = Instant::now() + Duration::from_secs(180);
    // The rest arrives in three batches, each drained before the next (so compactions have
    // new commits to rewrite, and detection runs in between), the console answering
    // meanwhile. Compactions run back to back from the first batch to the end, in a thread
    // of their own, each timed: the ingester must have committed while one ran.
    let stop_compacting = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let compactor = {
        let (stop, lake) = (stop_compacting.clone(), lake.clone());
        std::thread::spawn(move || {
            let mut spans = vec![];
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let start = now_ms();
                run_ok(trailhouse().args(["compact", "--lake"]).arg(&lake));
                spans.push((start, now_ms()));
            }
            spans
        })
    };
    for batch in rest.chunks(rest.len().div_ceil(3)) {
        notify(&sqs, &queue, &bucket, batch).await;
        loop {
            for path in ["/api/overview", "/api/alerts", "/api/incidents"] {
                let (status, body) = get(&format!("{}{path}", console.url)).await;
                assert_eq!(status, 200, "{path} during maintenance: {body}\n{}", console.log());
            }
            if queue_depth(&sqs, &queue).await == 0 {
                break;
            }
            let log = std::fs::read_to_string(log("ingest")).unwrap();
            assert!(Instant::now() < deadline, "the queue never drained:\n{log}");
            assert!(!compactor.is_finished(), "a compaction failed (see above)");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    stop_compacting.store(true, std::sync::atomic::Ordering::SeqCst);
    let compacting = tokio::task::spawn_blocking(move || compactor.join()).await.unwrap().expect("a compaction failed");
    // One more, on a lake nobody writes to.
    run_ok(trailhouse().args(["compact", "--lake"]).arg(&lake));
    // Detection catches up with the last commit (the compactions' included).
    loop {
        let mut watermark = trailhouse();
        watermark.args(["sql", "--lake"]).arg(&lake).arg("SELECT max(to_version) AS v FROM detection_runs");
        let out = watermark.output().unwrap();
        // (No table until the first run has recorded itself.)
        let covered = if out.status.success() {
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["v"].as_u64()
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("no detection_runs table yet"), "{err}");
            None
        };
        if covered >= Some(table_version(&lake.join("cloudtrail"))) {
            break;
        }
        let log = std::fs::read_to_string(log("detect")).unwrap();
        assert!(Instant::now() < deadline, "detection never caught up:\n{log}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop(service, "the ingester", &log("ingest"));
    stop(detect, "detect --every", &log("detect"));
    let detect_log = std::fs::read_to_string(log("detect")).unwrap();
    assert!(!detect_log.contains("Detection run failed"), "a detection run failed during maintenance:\n{detect_log}");
    assert_eq!(get(&format!("{}/api/overview", console.url)).await.0, 200, "{}", console.log());

    let events = &sql_rows(&lake, "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail")[0];
    assert_eq!((events["n"].as_u64(), events["ids"].as_u64()), (g["events"].as_u64(), g["events"].as_u64()));
    let ledger = &sql_rows(
        &lake,
        "SELECT count(*) AS n, count(DISTINCT name) AS names FROM ingested_files WHERE status = 'ingested'",
    )[0];
    let files = keys.len() as u64;
    assert_eq!((ledger["n"].as_u64(), ledger["names"].as_u64()), (Some(files), Some(files)), "{ledger}");
    let alerts = &sql_rows(&lake, "SELECT count(*) AS n, count(DISTINCT alert_id) AS ids FROM alerts")[0];
    assert!(alerts["n"].as_u64() > Some(0), "no alert was raised: the test did not test");
    assert_eq!(alerts["n"], alerts["ids"], "an alert was raised twice: {alerts}");
    let tables = independent_table_rows(&lake);
    assert_eq!(tables["cloudtrail"], g["events"], "{tables}");
    let writes = write_commit_times(&lake.join("cloudtrail"));
    let during = writes.iter().filter(|t| compacting.iter().any(|(a, b)| (a..=b).contains(t))).count();
    eprintln!("{during} of {} ingest commits landed while one of {} compactions ran", writes.len(), compacting.len());
    assert!(during > 0, "no ingest commit landed while a compaction ran: {compacting:?} {writes:?}");
}
