//! `trailhouse rules` and `trailhouse detect` as a user (or cron) runs them: exit codes,
//! every alert sink (stdout, JSONL, the lake's alerts table, a webhook on a local HTTP
//! server), and no alert lost when a sink fails.
// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

mod common;

use common::trailhouse;

fn output(c: &mut Command) -> Output {
    c.output().unwrap()
}

fn stdout_of(c: &mut Command) -> String {
    let out = output(c);
    assert!(out.status.success(), "{c:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn small_lake(dir: &Path) -> std::path::PathBuf {
    let logs = dir.join("logs");
    let lake = dir.join("lake");
    stdout_of(
        trailhouse().args(["generate", "--events", "4000", "--accounts", "2", "--seed", "3", "--out"]).arg(&logs),
    );
    stdout_of(trailhouse().args(["ingest", "--json", "--source"]).arg(&logs).arg("--lake").arg(&lake));
    lake
}

/// A local HTTP server: the first request of the n-th connection gets `statuses[n]` (then
/// 200); each accepted body goes down the channel.
fn webhook_server(statuses: Vec<u16>) -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/services/T000/B000/SECRETWEBHOOKTOKEN", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let status = statuses.next().unwrap_or(200);
            let tx = tx.clone();
            // One thread per connection: the client keeps connections alive.
            std::thread::spawn(move || serve(stream, status, tx));
        }
    });
    (url, rx)
}

/// Answers the requests of one connection: the first with `first_status`, then 200.
fn serve(stream: std::net::TcpStream, first_status: u16, tx: mpsc::Sender<serde_json::Value>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut status = first_status;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        write!(writer, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").unwrap();
        if status == 200 {
            let _ = tx.send(serde_json::from_slice(&body).unwrap());
        }
        status = 200;
    }
}

#[test]
fn rules_list_shows_the_pack_and_rules_test_passes() {
    let out = stdout_of(trailhouse().args(["rules", "list"]));
    let rules = out.lines().filter(|l| l.contains("  ") && !l.is_empty() && !l.ends_with("their tests.")).count();
    assert!(rules >= 40, "{rules} rules:\n{out}");
    for id in ["cis-cloudwatch-1-root-usage", "console-login-new-ip", "console-brute-force", "calls-without-mfa"] {
        assert!(out.contains(id), "{id} missing:\n{out}");
    }
    let json = stdout_of(trailhouse().args(["rules", "list", "--json"]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(first["mitre"].is_array() && first["tests"].as_u64().unwrap() >= 2, "{first}");
    assert!(first["tactics"].as_array().is_some_and(|t| !t.is_empty()), "{first}");

    let md = stdout_of(trailhouse().args(["rules", "list", "--format", "markdown"]));
    for tactic in ["| Persistence | TA0003 |", "### Defense Evasion (TA0005)", "`console-brute-force`"] {
        assert!(md.contains(tactic), "{tactic} missing:\n{md}");
    }

    let out = stdout_of(trailhouse().args(["rules", "test", "console-brute-force", "log-retention-shortened"]));
    assert!(out.contains("2 rules") && out.contains(", 0 failed"), "{out}");

    let bad = output(trailhouse().args(["rules", "test", "no-such-rule"]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rules list"), "{bad:?}");
}

/// `sigma_dirs` in the settings file adds a folder of Sigma rules to the chosen pack;
/// a setting the file cannot have is refused with the file's name.
#[test]
fn a_settings_files_sigma_dirs_add_their_rules_to_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("detections/sigma-examples");
    let config = dir.path().join("trailhouse.toml");
    std::fs::write(&config, format!("sigma_dirs = [{:?}]\n", examples.display().to_string())).unwrap();
    let ids = |extra: &[&str]| -> Vec<String> {
        let json = stdout_of(trailhouse().args(["rules", "list", "--json"]).args(extra));
        json.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect()
    };
    let pack = ids(&[]);
    let with = ids(&["--config", config.to_str().unwrap()]);
    let added: Vec<&String> = with.iter().filter(|id| !pack.contains(id)).collect();
    assert_eq!(
        added,
        ["sigma-mr-console-login-failures", "sigma-mr-new-key-then-logging-stopped", "sigma-mr-region-sweep"]
    );
    assert_eq!(with.len(), pack.len() + 3);
    let out =
        stdout_of(trailhouse().args(["rules", "test", "--config", config.to_str().unwrap(), "sigma-mr-region-sweep"]));
    assert!(out.contains(", 0 failed"), "{out}");

    std::fs::write(&config, "sigma_directories = [\"x\"]\n").unwrap();
    let bad = output(trailhouse().args(["rules", "list", "--config", config.to_str().unwrap()]));
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("trailhouse.toml") && err.contains("sigma_directories"), "{err}");
}

#[test]
fn detect_delivers_to_every_sink_and_exit_status_tells_cron() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    let jsonl = dir.path().join("alerts.jsonl");
    // The first POST fails with 503: the retry must deliver it.
    let (url, bodies) = webhook_server(vec![503]);

    let out = output(
        trailhouse()
            .args(["detect", "-v", "--format", "ndjson", "--lake"])
            .arg(&lake)
            .arg("--jsonl")
            .arg(&jsonl)
            .args(["--webhook", &url]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "new alerts exit 3:\n{stderr}");
    assert!(!stderr.contains("SECRETWEBHOOKTOKEN"), "the webhook URL is a secret:\n{stderr}");
    let alerts: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(alerts.len() >= 14, "{} alerts", alerts.len());
    for a in &alerts {
        for field in [
            "alert_id",
            "rule_id",
            "title",
            "severity",
            "principal",
            "source_ips",
            "accounts",
            "regions",
            "first_seen",
            "event_ids",
        ] {
            assert!(a.get(field).is_some(), "{field} missing in {a}");
        }
    }
    let ids: Vec<&str> = alerts.iter().map(|a| a["alert_id"].as_str().unwrap()).collect();

    // JSONL: the same alerts.
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    let from_file: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["alert_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(from_file, ids);

    // Webhook: one Slack-compatible message per alert.
    let mut posted = Vec::new();
    while posted.len() < alerts.len() {
        let body = bodies.recv_timeout(Duration::from_secs(30)).expect("webhook bodies");
        assert!(body["text"].is_string() && body["blocks"][0]["text"]["type"] == "mrkdwn", "{body}");
        posted.push(body["trailhouse_alert"]["alert_id"].as_str().unwrap().to_string());
    }
    // (Connections are served by parallel threads, so arrival order may differ.)
    posted.sort();
    let mut sorted_ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    sorted_ids.sort();
    assert_eq!(posted, sorted_ids);

    // The alerts table.
    let n = stdout_of(
        trailhouse().args(["sql", "--lake"]).arg(&lake).arg("SELECT count(DISTINCT alert_id) AS n FROM alerts"),
    );
    assert!(n.contains(&format!("\"n\":{}", alerts.len())), "{n}");

    // Nothing new since: exit 0, no output, no webhook call.
    let again =
        output(trailhouse().args(["detect", "--format", "ndjson", "--lake"]).arg(&lake).args(["--webhook", &url]));
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(again.stdout.is_empty());
    assert!(bodies.try_recv().is_err());
}

#[test]
fn an_alert_whose_delivery_failed_is_raised_again_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    // A port nobody listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let down = output(
        trailhouse()
            .args(["detect", "--format", "ndjson", "--lake"])
            .arg(&lake)
            .args(["--webhook", &format!("http://{closed}/hook")]),
    );
    assert_eq!(down.status.code(), Some(1));
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("webhook"), "{err}");
    let first = String::from_utf8(down.stdout).unwrap().lines().count();
    assert!(first > 0);

    // The run was not recorded: the next one raises the same alerts.
    let retry = output(trailhouse().args(["detect", "--format", "ndjson", "--lake"]).arg(&lake));
    assert_eq!(retry.status.code(), Some(3));
    assert_eq!(String::from_utf8(retry.stdout).unwrap().lines().count(), first);

    // --dry-run records nothing either; --all after the recorded run finds only known alerts.
    let dry = output(trailhouse().args(["detect", "--all", "--dry-run", "--format", "ndjson", "--lake"]).arg(&lake));
    assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
}
