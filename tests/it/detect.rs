//! `trailhouse rules` and `trailhouse detect` as a user (or cron) runs them: exit codes,
//! every alert sink (stdout, JSONL, the lake's alerts table, a webhook on a local HTTP
//! server), and no alert lost when a sink fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use test_support::{run_ok, trailhouse};

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
        // Reported before the answer: once the client has its answer (or has exited), the
        // body is in the channel.
        if status == 200 {
            let _ = tx.send(serde_json::from_slice(&body).unwrap());
        }
        write!(writer, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").unwrap();
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
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/detections/sigma-examples");
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

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone()
}

/// Every message on an SQS queue, read until it stays empty (polled with a deadline).
async fn drain(sqs: &aws_sdk_sqs::Client, queue: &str, want: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < want && std::time::Instant::now() < deadline {
        let got = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(queue).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    out
}

fn received(rx: &mpsc::Receiver<serde_json::Value>, want: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while out.len() < want {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_are_routed_to_each_destination_and_one_that_fails_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let config = aws.sdk_config().await;
    let (sqs, sns) = (aws_sdk_sqs::Client::new(&config), aws_sdk_sns::Client::new(&config));
    let (events, hub) = (aws_sdk_eventbridge::Client::new(&config), aws_sdk_securityhub::Client::new(&config));
    let id = uuid::Uuid::new_v4().simple().to_string();
    // SNS -> a queue; an EventBridge bus whose rule sends trailhouse's events to a queue;
    // Security Hub on.
    let sns_queue = sqs.create_queue().queue_name(format!("sns-{id}")).send().await.unwrap().queue_url.unwrap();
    let topic = sns.create_topic().name(format!("alerts-{id}")).send().await.unwrap().topic_arn.unwrap();
    let arn = queue_arn(&sqs, &sns_queue).await;
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(arn).send().await.unwrap();
    let eb_queue = sqs.create_queue().queue_name(format!("eb-{id}")).send().await.unwrap().queue_url.unwrap();
    let bus = format!("security-{id}");
    events.create_event_bus().name(&bus).send().await.unwrap();
    events
        .put_rule()
        .name("trailhouse")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["trailhouse"]}"#)
        .send()
        .await
        .unwrap();
    let target =
        aws_sdk_eventbridge::types::Target::builder().id("q").arn(queue_arn(&sqs, &eb_queue).await).build().unwrap();
    events.put_targets().rule("trailhouse").event_bus_name(&bus).targets(target).send().await.unwrap();
    let _ = hub.enable_security_hub().send().await;

    let (slack_url, slack) = webhook_server(vec![]);
    let (pd_url, pagerduty) = webhook_server(vec![]);
    // A webhook that is down: nothing listens on its port.
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook/SECRETDOWNTOKEN", l.local_addr().unwrap())
    };
    let jsonl = dir.path().join("routed.jsonl");
    let settings = dir.path().join("trailhouse.toml");
    std::fs::write(
        &settings,
        format!(
            r#"
[[destinations]]
name = "oncall-slack"
kind = "slack"
url_env = "TRAILHOUSE_TEST_SLACK_URL"
min_severity = "high"

[[destinations]]
name = "pagerduty"
kind = "pagerduty"
routing_key = "R0UTINGKEY"
events_url = "{pd_url}"
min_severity = "critical"

[[destinations]]
name = "sns"
kind = "sns"
topic_arn = "{topic}"
rules = ["console-brute-force"]

[[destinations]]
name = "bus"
kind = "eventbridge"
event_bus = "{bus}"
format = "ocsf"

[[destinations]]
name = "hub"
kind = "securityhub"
min_severity = "high"

[[destinations]]
name = "archive"
kind = "jsonl"
path = "{}"

[[destinations]]
name = "siem"
kind = "webhook"
url_env = "TRAILHOUSE_TEST_SIEM_URL"
"#,
            jsonl.display()
        ),
    )
    .unwrap();
    let detect = |siem: &str| {
        trailhouse()
            .args(["detect", "--format", "ndjson", "--config"])
            .arg(&settings)
            .arg("--lake")
            .arg(&lake)
            .env("TRAILHOUSE_TEST_SLACK_URL", &slack_url)
            .env("TRAILHOUSE_TEST_SIEM_URL", siem)
            .env("AWS_ENDPOINT_URL", test_support::endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap()
    };
    let out = detect(&down);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let alerts: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| alerts.iter().filter(|a| f(a)).count();
    let high = count(&|a| a["severity"] == "high" || a["severity"] == "critical");
    let critical = count(&|a| a["severity"] == "critical");
    let brute = count(&|a| a["rule_id"] == "console-brute-force");
    assert!(high > 0 && critical > 0 && brute == 1, "{alerts:?}");

    // Each destination got what its filters let through.
    let to_slack = received(&slack, high);
    assert_eq!(to_slack.len(), high);
    assert!(to_slack.iter().all(|m| m["blocks"].is_array()), "{to_slack:?}");
    let to_pd = received(&pagerduty, critical);
    assert_eq!(to_pd.len(), critical);
    for m in &to_pd {
        assert_eq!((m["event_action"].as_str(), m["routing_key"].as_str()), (Some("trigger"), Some("R0UTINGKEY")));
        assert!(alerts.iter().any(|a| a["alert_id"] == m["dedup_key"]), "{m}");
    }
    let via_sns = drain(&sqs, &sns_queue, 1).await;
    assert_eq!(via_sns.len(), 1);
    let message: serde_json::Value = serde_json::from_str(via_sns[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["rule_id"], "console-brute-force");
    let via_bus = drain(&sqs, &eb_queue, alerts.len()).await;
    assert_eq!(via_bus.len(), alerts.len());
    assert!(via_bus.iter().all(|e| e["detail-type"] == "trailhouse alert" && e["detail"]["class_uid"] == 2004));
    let findings = hub.get_findings().max_results(100).send().await.unwrap();
    let ids: Vec<&str> = findings.findings().iter().filter_map(|f| f.id()).collect();
    let wanted: Vec<&str> = alerts
        .iter()
        .filter(|a| a["severity"] == "high" || a["severity"] == "critical")
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert!(wanted.iter().all(|w| ids.contains(w)), "{ids:?} lacks some of {wanted:?}");
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), alerts.len());
    // The webhook that is down failed, named without its secret; the others went on.
    assert!(stderr.contains("siem") && !stderr.contains("SECRETDOWNTOKEN"), "{stderr}");
    let status = |sql: &str| {
        String::from_utf8(
            trailhouse().args(["sql", "--format", "csv", "--lake"]).arg(&lake).arg(sql).output().unwrap().stdout,
        )
        .unwrap()
    };
    let latest = "SELECT destination, status, count(*) AS n FROM (SELECT *, row_number() OVER (PARTITION BY alert_id, \
                  destination ORDER BY at DESC) AS k FROM alert_deliveries) WHERE k = 1 GROUP BY 1, 2 ORDER BY 1, 2";
    let first = status(latest);
    assert!(first.contains(&format!("siem,failed,{}", alerts.len())), "{first}");

    // The webhook is back: the next run (no new alerts) delivers what failed, once.
    let (siem_url, siem) = webhook_server(vec![]);
    // A critical alert closed in between: its PagerDuty incident is resolved.
    let closed = alerts.iter().find(|a| a["severity"] == "critical").unwrap()["alert_id"].as_str().unwrap().to_string();
    stdout_of(trailhouse().args(["alerts", "close", &closed, "--note", "known change", "--lake"]).arg(&lake));
    let out = detect(&siem_url);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let to_siem = received(&siem, alerts.len());
    assert_eq!(to_siem.len(), alerts.len());
    let resolve = received(&pagerduty, 1);
    assert_eq!(resolve.len(), 1);
    assert_eq!(
        (resolve[0]["event_action"].as_str(), resolve[0]["dedup_key"].as_str()),
        (Some("resolve"), Some(closed.as_str()))
    );
    let after = status(latest);
    assert!(after.contains(&format!("siem,delivered,{}", alerts.len())), "{after}");
    assert!(after.contains("pagerduty,resolved,1"), "{after}");
    // Security Hub holds one finding per alert: a rerun updates, never duplicates.
    let findings = hub.get_findings().max_results(100).send().await.unwrap();
    let ours = findings.findings().iter().filter(|f| f.id().is_some_and(|i| wanted.contains(&i))).count();
    assert_eq!(ours, wanted.len());
    // Nothing was delivered twice (the process has exited: whatever it sent is in).
    assert_eq!(slack.try_iter().count(), 0);
    assert_eq!(siem.try_iter().count(), 0);
    let more = sqs.receive_message().queue_url(&eb_queue).max_number_of_messages(10).send().await.unwrap();
    assert!(more.messages().is_empty(), "{more:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_settings_name_accounts_by_organizational_unit_path() {
    let dir = tempfile::tempdir().unwrap();
    let lake = small_lake(dir.path());
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let org = aws_sdk_organizations::Client::new(&aws.sdk_config().await);
    let org_id = match org
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
    {
        Ok(o) => o.organization().unwrap().id().unwrap().to_string(),
        Err(_) => org.describe_organization().send().await.unwrap().organization().unwrap().id().unwrap().to_string(),
    };
    let root = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ou = org.create_organizational_unit().parent_id(&root).name(format!("sandbox-{id}")).send().await.unwrap();
    let ou = ou.organizational_unit().unwrap().id().unwrap().to_string();
    let created = org
        .create_account()
        .email(format!("{id}@example.com"))
        .account_name(format!("sandbox-{id}"))
        .send()
        .await
        .unwrap();
    let account = created.create_account_status().unwrap().account_id().unwrap().to_string();
    org.move_account().account_id(&account).source_parent_id(&root).destination_parent_id(&ou).send().await.unwrap();
    let path = format!("{org_id}/{root}/{ou}/");

    let settings = dir.path().join("trailhouse.toml");
    let detect = |text: String| {
        std::fs::write(&settings, text).unwrap();
        trailhouse()
            .args([
                "detect",
                "--dry-run",
                "--format",
                "ndjson",
                "--endpoint-url",
                &test_support::endpoint(),
                "--config",
            ])
            .arg(&settings)
            .arg("--lake")
            .arg(&lake)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap()
    };
    // Only the sandbox OU's accounts: the lake's alerts are in other accounts.
    let only = detect(format!("[rule_settings.\"*\"]\naccounts = [\"{path}\"]\n"));
    assert_eq!(only.status.code(), Some(0), "{}", String::from_utf8_lossy(&only.stderr));
    assert!(only.stdout.is_empty());
    // Everything but the sandbox: the alerts stay.
    let but = detect(format!("[rule_settings.\"*\"]\nexclude_accounts = [\"{path}\"]\n"));
    assert_eq!(but.status.code(), Some(3), "{}", String::from_utf8_lossy(&but.stderr));
    // An OU the organization does not have fails at start, naming it.
    let missing = detect(format!("[rule_settings.\"*\"]\naccounts = [\"{org_id}/{root}/ou-zzzz-99999999/\"]\n"));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("ou-zzzz-99999999"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[test]
fn rules_lint_names_a_misspelt_event_with_its_line_and_closest_names() {
    let dir = tempfile::tempdir().unwrap();
    let rule = std::fs::read_to_string("crates/detections/packs/trailhouse/root-console-login.toml").unwrap();
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
