//! The same SQL, export and detections on a DataFusion Ballista cluster: a scheduler and
//! two executors started as separate `trailhouse cluster` processes on 127.0.0.1 (free
//! ports, killed at the end), against the same lake run locally.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use test_support::{run_ok, trailhouse};

/// Ballista's own log lines: executors log each task they run, the scheduler each
/// executor that registers.
const NODE_LOG: &str = "warn,ballista_executor=info,ballista_scheduler=info";

/// A node process, killed when dropped.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `what` over the node's log until it holds, or fails after 60 s.
    fn wait_for(&mut self, what: &str, holds: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !holds(&self.log()) {
            assert!(self.child.try_wait().unwrap().is_none(), "the node exited before {what}:\n{}", self.log());
            assert!(Instant::now() < deadline, "no {what} within 60 s:\n{}", self.log());
            std::thread::park_timeout(Duration::from_millis(50));
        }
    }
}

fn scheduler(dir: &Path) -> (Node, String) {
    let log = dir.join("scheduler.log");
    let mut child = trailhouse()
        .args(["cluster", "scheduler", "--bind", "127.0.0.1:0"])
        .env("TRAILHOUSE_LOG", NODE_LOG)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Its first line says where it listens (read_line returns at EOF if it dies).
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("df://127.0.0.1:"), "scheduler said {line:?}");
    (Node { child, log }, url)
}

/// An executor, with the IP files the SQL functions read (`city.mmdb`, `asn.mmdb` in `dir`).
fn executor(url: &str, dir: &Path, n: usize) -> Node {
    let log = dir.join(format!("executor-{n}.log"));
    let child = trailhouse()
        .args(["cluster", "executor", "--scheduler", url, "--bind", "127.0.0.1:0", "--grpc-port", "0"])
        .env("TRAILHOUSE_GEOIP_CITY", dir.join("city.mmdb"))
        .env("TRAILHOUSE_GEOIP_ASN", dir.join("asn.mmdb"))
        .args(["--concurrent-tasks", "2", "--work-dir"])
        .arg(dir.join(format!("work-{n}")))
        .env("TRAILHOUSE_LOG", NODE_LOG)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Node { child, log }
}

/// `trailhouse ARGS --lake LAKE [--cluster URL]`'s stdout (`detect` exits 3 when it
/// raises alerts).
fn on(lake: &Path, cluster: Option<&str>, args: &[&str]) -> String {
    let mut c = trailhouse();
    c.args(args).arg("--lake").arg(lake);
    if let Some(url) = cluster {
        c.args(["--cluster", url]);
    }
    let shown = format!("{c:?}");
    // Killed after 300 s: a job the scheduler lost would otherwise wait forever.
    let out = assert_cmd::Command::from_std(c).timeout(Duration::from_secs(300)).output().unwrap();
    let ok = out.status.success() || (args[0] == "detect" && out.status.code() == Some(3));
    assert!(ok, "{shown} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Tasks each executor ran, by (job, stage), from its "Execute task  : [TID job/stage.attempt/task.attempt]" lines.
fn tasks(log: &str) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for line in log.lines() {
        let Some(tid) = line.split("[TID ").nth(1) else { continue };
        let Some(tid) = tid.split(']').next() else { continue };
        let mut parts = tid.split('/');
        let (Some(job), Some(stage), Some(task)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let stage = stage.split('.').next().unwrap_or(stage);
        out.entry((job.to_string(), stage.to_string())).or_default().insert(task.to_string());
    }
    out
}

#[test]
fn sql_export_and_detections_on_a_two_executor_cluster_match_local_execution() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    run_ok(
        trailhouse()
            .args(["generate", "--events", "30000", "--accounts", "3", "--days", "3", "--seed", "8", "--out"])
            .arg(&logs),
    );
    run_ok(trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake));

    crate::enrich::write_databases(dir.path());
    let (mut sched, url) = scheduler(dir.path());
    let executors = [executor(&url, dir.path(), 1), executor(&url, dir.path(), 2)];
    sched.wait_for("two executors registered", |log| log.matches("Received register executor request").count() >= 2);

    // Athena's queries and trailhouse's views and functions: the same rows both ways.
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cluster-queries.sql");
    let queries = queries.to_str().unwrap();
    let local = on(&lake, None, &["sql", "--format", "ndjson", "-f", queries]);
    let remote = on(&lake, Some(&url), &["sql", "--format", "ndjson", "-f", queries]);
    assert!(local.lines().count() > 100, "the queries return too little to compare:\n{local}");
    assert_eq!(remote, local, "the cluster's rows differ from local execution");

    // The IP functions answer on the executors from their own files: the same counts per
    // country and ASN as here (an executor without the files would answer NULL).
    let (city, asn) = (dir.path().join("city.mmdb"), dir.path().join("asn.mmdb"));
    let geo = [
        "sql",
        "--format",
        "ndjson",
        "--geoip-city",
        city.to_str().unwrap(),
        "--geoip-asn",
        asn.to_str().unwrap(),
        "SELECT geo_country(sourceipaddress) AS country, asn(sourceipaddress) AS asn, count(*) AS n \
         FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2",
    ];
    let (here, there) = (on(&lake, None, &geo), on(&lake, Some(&url), &geo));
    assert!(here.contains(r#""country":"US","asn":64500"#), "{here}");
    assert_eq!(there, here, "the executors' lookups differ from local ones");

    // The work was spread: stages ran as more than one task, on both executors.
    let logs: Vec<_> = executors.iter().map(|e| tasks(&e.log())).collect();
    let shared = logs[0].keys().filter(|stage| logs[1].contains_key(*stage)).count();
    assert!(shared >= 5, "few stages ran on both executors: {logs:?}");

    // The detection pack over everything: the same alerts (here with the same IP files as
    // the executors: the rules that compare places and networks read them).
    let (city, asn) = (city.to_str().unwrap(), asn.to_str().unwrap());
    let alerts = |cluster| {
        let detect = ["detect", "--all", "--dry-run", "--format", "ndjson", "--geoip-city", city, "--geoip-asn", asn];
        let out = on(&lake, cluster, &detect);
        out.lines().map(String::from).collect::<BTreeSet<_>>()
    };
    let local = alerts(None);
    assert!(local.len() >= 10, "the generated lake raises too few alerts to compare: {}", local.len());
    assert_eq!(alerts(Some(&url)), local);

    // EXPLAIN ANALYZE on the cluster shows the stages with their operators' metrics, for a
    // union whose branches the scheduler reshapes per task too (the integrity rule's shape).
    for q in [
        "EXPLAIN ANALYZE SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1",
        "EXPLAIN ANALYZE SELECT eventid FROM cloudtrail UNION ALL SELECT CAST(NULL AS VARCHAR)",
    ] {
        let plan = on(&lake, Some(&url), &["sql", q]);
        assert!(plan.contains("output_rows="), "{q}: no metrics in\n{plan}");
    }

    // An export written by the executors holds what a local export holds.
    let (here, there) = (dir.path().join("export-local"), dir.path().join("export-cluster"));
    let window = ["--since", "2026-11-02", "--until", "2026-11-04", "--json", "--to"];
    let mut args: Vec<&str> = vec!["export"];
    args.extend(window);
    let a: serde_json::Value =
        serde_json::from_str(&on(&lake, None, &[&args[..], &[here.to_str().unwrap()]].concat())).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&on(&lake, Some(&url), &[&args[..], &[there.to_str().unwrap()]].concat())).unwrap();
    assert!(a["rows"].as_u64().unwrap() > 0);
    assert_eq!(a["rows"], b["rows"]);
    let summary = |folder: &Path| {
        let q = format!(
            "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{}/**/*.parquet'; \
             SELECT count(*) AS n, count(DISTINCT eventid) AS ids, min(eventtime) AS first, max(eventtime) AS last FROM x",
            folder.display()
        );
        on(&lake, None, &["sql", "--format", "ndjson", &q])
    };
    assert_eq!(summary(&there), summary(&here));
    drop(executors);
    drop(sched);
}
