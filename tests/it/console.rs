//! The web console (`trailhouse serve`) as a process on 127.0.0.1 over a demo lake: its
//! JSON API over HTTP (every endpoint, auth on and off, bad parameters, SQL errors), and
//! its pages driven in a real browser (Debian's Chromium through ChromeDriver), with a
//! screenshot of each page under `target/ui-screenshots/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use test_support::trailhouse;

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap();
    // `detect` exits 3 when it raised alerts.
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "{c:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One demo lake for every test of this file: generated logs ingested, the detection pack
/// run over all of it (alerts recorded in the lake).
fn demo_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &LAKE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
            run(trailhouse()
                .args(["generate", "--events", "20000", "--accounts", "3", "--days", "2", "--seed", "21", "--digests"])
                .arg("--out")
                .arg(&logs));
            // One log file cut short, for the overview's quarantined files.
            let log = first_log_file(&logs).unwrap();
            let bytes = std::fs::read(&log).unwrap();
            std::fs::write(log.with_file_name("truncated_CloudTrail.json.gz"), &bytes[..bytes.len() / 2]).unwrap();
            // The digests are signed with the generator's key: ingest checks them with it.
            run(trailhouse()
                .args(["ingest", "--source"])
                .arg(&logs)
                .arg("--public-keys")
                .arg(logs.join("public-keys.json"))
                .arg("--lake")
                .arg(&lake));
            run(trailhouse().args(["detect", "--all", "--format", "ndjson", "--lake"]).arg(&lake));
            (dir, lake)
        })
        .1
}

/// The first `.json.gz` log file under `dir` (depth first, sorted), not a digest.
fn first_log_file(dir: &Path) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    entries.into_iter().find_map(|e| {
        let name = e.to_string_lossy().to_string();
        if e.is_dir() {
            first_log_file(&e)
        } else {
            (name.ends_with(".json.gz") && !name.contains("Digest")).then_some(e)
        }
    })
}

/// `trailhouse sql` over the demo lake, as NDJSON rows.
fn sql(lake: &Path, query: &str) -> Vec<Value> {
    let out = run(trailhouse().args(["sql", "--format", "ndjson", "--lake"]).arg(lake).arg(query));
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A `trailhouse serve` process, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start(lake: &Path, args: &[&str], token: Option<&str>) -> Server {
        let log = lake.with_file_name(format!("serve-{}.log", uuid::Uuid::new_v4().simple()));
        let mut c = trailhouse();
        c.args(["serve", "--bind", "127.0.0.1:0", "--lake"]).arg(lake).args(args);
        if let Some(t) = token {
            c.env("TRAILHOUSE_SERVE_TOKEN", t);
        }
        let mut child = c.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
        // Its first line is the URL (read_line returns at EOF if it dies).
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_default().trim_end_matches('/');
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "serve said {line:?}:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        Server { url: url.to_string(), child, log }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `(status, JSON body)` of a request.
async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub(crate) async fn get(url: &str) -> (u16, Value) {
    call(reqwest::Client::new().get(url)).await
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    call(reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_string())).await
}

/// A 400 whose message contains `words`, and no trace of a panic or a backtrace.
fn assert_refused(answer: &(u16, Value), words: &str) {
    assert_eq!(answer.0, 400, "{answer:?}");
    let message = answer.1["error"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{words:?} not in {message:?}");
    assert!(!message.contains("panicked") && !message.contains("backtrace"), "{message}");
}

/// Polls a query until it leaves `running` (or 60 s pass).
async fn finished(base: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, q) = get(&format!("{base}/api/queries/{id}?limit=1000")).await;
        assert_eq!(status, 200, "{q}");
        if q["state"] != "running" {
            return q;
        }
        assert!(Instant::now() < deadline, "query still running after 60 s: {q}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_api_answers_every_endpoint_and_refuses_bad_requests_with_a_message() {
    // Its own copy: it triages, and the other tests read the demo lake at the same time.
    let (_copy, lake) = lake_copy();
    let lake = lake.as_path();
    let server = Server::start(lake, &[], None);
    let base = server.url.clone();

    // Overview: events per hour over the 24 hours ending at the newest event.
    let (status, o) = get(&format!("{base}/api/overview")).await;
    assert_eq!(status, 200, "{o}");
    let want = sql(
        lake,
        "SELECT count(*) AS n, count(DISTINCT date_trunc('hour', eventtime)) AS hours FROM cloudtrail \
         WHERE eventtime > (SELECT max(eventtime) FROM cloudtrail) - INTERVAL '24 hours'",
    );
    let hours = o["events_per_hour"].as_array().unwrap();
    let sum: i64 = hours.iter().map(|h| h["events"].as_i64().unwrap()).sum();
    assert_eq!(sum, want[0]["n"].as_i64().unwrap());
    assert_eq!(o["events"].as_i64().unwrap(), sum);
    // 20,000 events over two days: every hour of the window has some, so one point each.
    assert_eq!(hours.len() as i64, want[0]["hours"].as_i64().unwrap());
    assert_eq!(o["by_account"].as_array().unwrap().len(), 3, "{}", o["by_account"]);
    assert!(o["freshness"]["files_ingested"].as_i64().unwrap() > 0);
    assert_eq!(o["freshness"]["quarantined"], 1, "{}", o["freshness"]);
    let quarantined = &o["quarantined"][0];
    assert!(quarantined["name"].as_str().unwrap().ends_with("truncated_CloudTrail.json.gz"), "{quarantined}");
    assert!(!quarantined["error"].as_str().unwrap().is_empty());
    let digests = sql(lake, "SELECT count(*) AS n FROM integrity")[0]["n"].as_i64().unwrap();
    assert!(digests > 0);
    assert_eq!(o["integrity"]["digests"].as_i64(), Some(digests), "{}", o["integrity"]);
    assert!(o["alert_totals"].as_array().unwrap().iter().map(|c| c["events"].as_i64().unwrap()).sum::<i64>() > 0);
    assert_refused(&get(&format!("{base}/api/overview?hours=0")).await, "hours must be a whole number from 1");
    assert_refused(&get(&format!("{base}/api/overview?hour=3")).await, "unknown parameter \"hour\"");

    // Alerts, attention first: open before acknowledged before closed, then the most
    // severe, then the newest; a filter keeps only what it names.
    let (status, list) = get(&format!("{base}/api/alerts?limit=1000")).await;
    assert_eq!(status, 200, "{list}");
    let alerts = list["alerts"].as_array().unwrap();
    let in_lake = sql(lake, "SELECT count(*) AS n FROM alerts")[0]["n"].as_i64().unwrap();
    assert_eq!(list["total"].as_i64().unwrap(), in_lake);
    assert_attention_order(alerts);
    assert_eq!(alerts[0]["severity"], "critical", "the demo lake has criticals: one comes first");
    let by_time = get(&format!("{base}/api/alerts?limit=1000&sort=last_seen")).await.1;
    let last_seen: Vec<&str> =
        by_time["alerts"].as_array().unwrap().iter().map(|a| a["last_seen"].as_str().unwrap()).collect();
    assert!(last_seen.windows(2).all(|w| w[0] >= w[1]), "sort=last_seen is not newest first");
    let oldest = get(&format!("{base}/api/alerts?limit=1&sort=last_seen&dir=asc")).await.1;
    assert_eq!(oldest["alerts"][0]["last_seen"].as_str(), last_seen.last().copied());
    assert_refused(&get(&format!("{base}/api/alerts?sort=colour")).await, "sort must be one of");
    // An identity is filtered exactly: by its ARN, one user in one account, not every
    // user of that name.
    let named = alerts.iter().find(|a| a["full_principal"].as_str().is_some_and(|p| p.contains(":user/"))).unwrap();
    let arn = named["full_principal"].as_str().unwrap();
    let exact = get(&format!("{base}/api/alerts?limit=1000&principal={}", urlencode(arn))).await.1;
    let exact = exact["alerts"].as_array().unwrap();
    assert!(!exact.is_empty() && exact.iter().all(|a| a["full_principal"] == arn), "{exact:?}");
    let by_name =
        get(&format!("{base}/api/alerts?limit=1000&principal={}", named["principal"].as_str().unwrap())).await.1;
    assert!(by_name["total"].as_i64() >= Some(exact.len() as i64));
    // Groups by rule, identity and account count the same alerts.
    for by in ["rule", "identity", "account"] {
        let (status, g) = get(&format!("{base}/api/alerts/groups?by={by}")).await;
        assert_eq!(status, 200, "{g}");
        let groups = g["groups"].as_array().unwrap();
        let counted: i64 = groups.iter().map(|x| x["alerts"].as_i64().unwrap()).sum();
        if by != "account" {
            assert_eq!(counted, in_lake, "groups by {by}: {g}");
        }
        assert!(groups.iter().all(|x| x["open"].as_i64() <= x["alerts"].as_i64()));
    }
    let by_rule = get(&format!("{base}/api/alerts/groups?by=rule")).await.1;
    let per_rule = sql(lake, "SELECT rule_id, count(*) AS n FROM alerts GROUP BY 1");
    for g in by_rule["groups"].as_array().unwrap() {
        let want = per_rule.iter().find(|r| r["rule_id"] == g["key"]).unwrap()["n"].as_i64();
        assert_eq!(g["alerts"].as_i64(), want, "{g}");
    }
    assert_refused(&get(&format!("{base}/api/alerts/groups?by=colour")).await, "by must be one of");
    assert_refused(&get(&format!("{base}/api/alerts/groups")).await, "by is required");
    // The shared time range: a window before every alert holds none of them.
    let none = get(&format!("{base}/api/alerts?from=2001-01-01&to=2001-01-02")).await.1;
    assert_eq!(none["total"], 0, "{none}");
    let recent = get(&format!("{base}/api/alerts?range=7d")).await.1;
    assert_eq!(
        recent["total"].as_i64(),
        Some(in_lake),
        "the demo's two days are within the 7 days before its newest event"
    );
    assert_refused(&get(&format!("{base}/api/alerts?range=fortnight")).await, "range must be");
    assert_refused(&get(&format!("{base}/api/alerts?range=1%C3%A9")).await, "range must be");
    // A date alone is its whole day; an end alone has no start.
    let day = &alerts[0]["last_seen"].as_str().unwrap()[..10];
    let that_day = get(&format!("{base}/api/alerts?from={day}&to={day}&limit=1000")).await.1;
    assert!(
        that_day["alerts"].as_array().unwrap().iter().any(|a| a["alert_id"] == alerts[0]["alert_id"]),
        "{that_day}"
    );
    let (status, until) = get(&format!("{base}/api/alerts?to={day}")).await;
    assert_eq!(status, 200, "{until}");
    assert!(until["total"].as_i64() > Some(0));
    let high = get(&format!("{base}/api/alerts?severity=high")).await.1;
    assert!(high["alerts"].as_array().unwrap().iter().all(|a| a["severity"] == "high"));
    assert_refused(&get(&format!("{base}/api/alerts?severity=urgent")).await, "severity must be one of");

    // One alert: its rule, and its events as rows.
    let alert = alerts
        .iter()
        .find(|a| !a["source_ips"].as_array().unwrap().is_empty() && a["rule_id"] != "incident-attack-sequence")
        .unwrap();
    let id = alert["alert_id"].as_str().unwrap();
    let (status, page) = get(&format!("{base}/api/alerts/{id}")).await;
    assert_eq!(status, 200, "{page}");
    let event_ids = page["alert"]["event_ids"].as_array().unwrap();
    assert!(!event_ids.is_empty());
    assert_eq!(page["events"]["rows"].as_array().unwrap().len(), event_ids.len(), "{}", page["events"]);
    assert_eq!(page["rule"]["id"], alert["rule_id"]);
    assert!(!page["rule"]["triage"].as_str().unwrap().is_empty());
    assert_eq!(page["triage"]["state"], "open");
    assert_eq!(get(&format!("{base}/api/alerts/no-such-alert")).await.0, 404);

    // Triage: closing needs a note; each change is kept, newest first.
    let triage = format!("{base}/api/alerts/{id}/triage");
    assert_refused(&post(&triage, json!({"state": "closed"})).await, "needs a note");
    assert_refused(&post(&triage, json!({"state": "done"})).await, "open, acknowledged or closed");
    let ack = json!({"state": "acknowledged", "note": "looking", "assignee": "dana", "by": "erin"});
    let (status, t) = post(&triage, ack).await;
    assert_eq!((status, &t["state"], &t["assignee"]), (200, &json!("acknowledged"), &json!("dana")), "{t}");
    assert_refused(&post(&triage, json!({"state": "acknowledged", "reason": "benign"})).await, "only when closing");
    assert_refused(
        &post(&triage, json!({"state": "closed", "note": "x", "reason": "boring"})).await,
        "unknown close reason",
    );
    let close = json!({"state": "closed", "note": "the red team's test", "reason": "true_positive", "by": "erin"});
    let (_, t) = post(&triage, close).await;
    assert_eq!((&t["state"], &t["reason"]), (&json!("closed"), &json!("true_positive")), "{t}");
    // The assignee stays until changed; the history is the audit trail: who, from where, what.
    assert_eq!(t["assignee"], "dana", "{t}");
    let history = t["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h["actor"] == "erin" && h["via"] == "console"), "{history:?}");
    let assigned = get(&format!("{base}/api/alerts?assignee=dana")).await.1;
    assert_eq!((assigned["total"].as_i64(), &assigned["alerts"][0]["alert_id"]), (Some(1), &json!(id)), "{assigned}");
    let closed = get(&format!("{base}/api/alerts?state=closed")).await.1;
    assert_eq!(closed["total"], 1);
    assert_eq!(closed["alerts"][0]["alert_id"], id);
    let not_json = reqwest::Client::new().post(&triage).body("state=closed").send().await.unwrap();
    assert_eq!(not_json.status().as_u16(), 400);

    // Investigate the alert's source address: its events, and the alert that names it.
    let ip = alert["source_ips"][0].as_str().unwrap();
    let (status, inv) = get(&format!("{base}/api/investigate?kind=ip&value={ip}")).await;
    assert_eq!(status, 200, "{inv}");
    let n = sql(lake, &format!("SELECT count(*) AS n FROM cloudtrail WHERE sourceipaddress = '{ip}'"))[0]["n"].as_i64();
    assert_eq!(inv["events"].as_i64(), n);
    let timeline: i64 = inv["timeline"].as_array().unwrap().iter().map(|t| t["events"].as_i64().unwrap()).sum();
    assert_eq!(Some(timeline), n);
    assert!(inv["alerts"].as_array().unwrap().iter().any(|a| a["alert_id"] == id));
    assert!(!inv["calls"]["rows"].as_array().unwrap().is_empty());
    // The alert's identity, by its exact ARN: its events only, and the alert.
    let full = page["alert"]["full_principal"].as_str().unwrap();
    let who = get(&format!("{base}/api/investigate?kind=principal&value={}", urlencode(full))).await.1;
    let n = sql(
        lake,
        &format!(
            "SELECT count(*) AS n FROM cloudtrail WHERE useridentity.arn = '{full}' \
             OR useridentity.sessioncontext.sessionissuer.arn = '{full}'"
        ),
    )[0]["n"]
        .as_i64();
    assert_eq!(who["events"].as_i64(), n, "{}", who["value"]);
    assert!(who["alerts"].as_array().unwrap().iter().any(|a| a["alert_id"] == id));
    // A short name that several identities share (the generator's users exist in every
    // account) lists them to choose from instead of mixing their events.
    let short = sql(
        lake,
        "SELECT useridentity.username AS name FROM cloudtrail WHERE useridentity.type = 'IAMUser' \
         GROUP BY 1 HAVING count(DISTINCT useridentity.arn) > 1 ORDER BY 1 LIMIT 1",
    );
    let short = short[0]["name"].as_str().unwrap();
    let mixed = get(&format!("{base}/api/investigate?kind=principal&value={short}")).await.1;
    assert_eq!(mixed["ambiguous"], true, "{mixed}");
    let arns: Vec<&str> = mixed["choices"].as_array().unwrap().iter().map(|c| c["arn"].as_str().unwrap()).collect();
    assert!(arns.len() > 1 && arns.iter().all(|a| a.ends_with(&format!(":user/{short}"))), "{arns:?}");
    // ... and one account narrows it to one.
    let account = mixed["choices"][0]["account"].as_str().unwrap();
    let one = get(&format!("{base}/api/investigate?kind=principal&value={short}&account={account}")).await.1;
    assert!(one["ambiguous"].is_null() && one["events"].as_i64().unwrap() > 0, "{one}");
    // A pivot's window keeps to it: the events of the day around the alert only.
    let (first, last) = (alert["first_seen"].as_str().unwrap(), alert["last_seen"].as_str().unwrap());
    let around = get(&format!("{base}/api/investigate?kind=ip&value={ip}&from={first}&to={last}")).await.1;
    let within = sql(
        lake,
        &format!(
            "SELECT count(*) AS n FROM cloudtrail WHERE sourceipaddress = '{ip}' \
             AND eventtime >= TIMESTAMP '{first}' AND eventtime <= TIMESTAMP '{last}'"
        ),
    )[0]["n"]
        .as_i64();
    assert_eq!(around["events"].as_i64(), within, "{}", around["window"]);
    assert!(around["alerts"].as_array().unwrap().iter().any(|a| a["alert_id"] == id));
    // An access key's alerts are those that hold its events, as the alert page shows them.
    let key = page["events"]["rows"][0][7].as_str().unwrap_or_default().to_string();
    assert_eq!(page["events"]["columns"][7]["name"], "accesskeyid");
    if !key.is_empty() {
        let k = get(&format!("{base}/api/investigate?kind=accesskey&value={key}")).await.1;
        assert!(k["alerts"].as_array().unwrap().iter().any(|a| a["alert_id"] == id), "{}", k["alerts"]);
    }
    // An account, and the calls a page of 500 at a time.
    let acct = get(&format!("{base}/api/investigate?kind=account&value={account}")).await.1;
    let in_account = sql(
        lake,
        &format!("SELECT count(*) AS n FROM cloudtrail WHERE recipientaccountid = '{account}' OR useridentity.accountid = '{account}'"),
    )[0]["n"]
        .as_i64();
    assert_eq!(acct["events"].as_i64(), in_account);
    assert_eq!(acct["calls"]["rows"].as_array().unwrap().len(), 500);
    let page2 = get(&format!("{base}/api/investigate?kind=account&value={account}&offset=500")).await.1;
    assert_ne!(page2["calls"]["rows"][0], acct["calls"]["rows"][0]);
    assert_refused(&get(&format!("{base}/api/investigate?kind=ip&value={ip}&account=12")).await, "12-digit");
    let resource = sql(
        lake,
        "SELECT get_field(r, 'arn') AS arn FROM (SELECT unnest(resources) AS r FROM cloudtrail WHERE resources IS NOT NULL) \
         WHERE get_field(r, 'arn') IS NOT NULL LIMIT 1",
    );
    if let Some(arn) = resource.first().and_then(|r| r["arn"].as_str()) {
        let r = get(&format!("{base}/api/investigate?kind=resource&value={}", urlencode(arn))).await.1;
        assert!(r["events"].as_i64().unwrap() > 0, "{r}");
    }
    // A tampered trail: the trail's page finds the calls that stopped and deleted it (they
    // name it in their request, by ARN or by name alone, not in `resources`) and both alerts.
    let tampering = sql(lake, "SELECT alert_id FROM alerts WHERE rule_id = 'cloudtrail-tampering'");
    let trail = sql(
        lake,
        "SELECT json_get_str(requestparameters, 'name') AS name FROM cloudtrail \
         WHERE eventname = 'StopLogging' AND requestparameters LIKE '%arn:%' LIMIT 1",
    );
    let trail = trail[0]["name"].as_str().unwrap();
    let t = get(&format!("{base}/api/investigate?kind=resource&value={}", urlencode(trail))).await.1;
    let names: Vec<&str> = t["event_names"].as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
    assert!(names.contains(&"StopLogging") && names.contains(&"DeleteTrail"), "{names:?}");
    let listed: Vec<&Value> = t["alerts"].as_array().unwrap().iter().map(|a| &a["alert_id"]).collect();
    assert!(tampering.len() >= 2 && tampering.iter().all(|a| listed.contains(&&a["alert_id"])), "{listed:?}");
    assert_refused(&get(&format!("{base}/api/investigate?kind=user&value=x")).await, "kind must be one of");
    assert_refused(&get(&format!("{base}/api/investigate?kind=ip")).await, "value is required");

    // Incidents, highest score first, each with its steps.
    let (status, inc) = get(&format!("{base}/api/incidents?limit=200")).await;
    assert_eq!(status, 200, "{inc}");
    let incidents = inc["incidents"].as_array().unwrap();
    let stored = sql(lake, "SELECT count(*) AS n FROM incidents")[0]["n"].as_i64().unwrap();
    assert!(stored > 0);
    assert_eq!(inc["total"].as_i64(), Some(stored));
    let scores: Vec<f64> = incidents.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "not highest score first: {scores:?}");
    for i in incidents {
        assert_eq!(i["steps"].as_array().unwrap().len() as i64, i["alerts"].as_i64().unwrap(), "{i}");
        assert!(i["steps"].as_array().unwrap().iter().all(|s| s["state"].is_string()), "{i}");
    }
    assert_refused(&get(&format!("{base}/api/incidents?limit=0")).await, "limit");

    // Bulk triage: one note for many alerts, refused whole without a note or with an
    // unknown id.
    let picked: Vec<&str> =
        alerts.iter().map(|a| a["alert_id"].as_str().unwrap()).filter(|a| *a != id).take(2).collect();
    let bulk = format!("{base}/api/alerts/triage");
    assert_refused(&post(&bulk, json!({"ids": picked, "state": "closed"})).await, "needs a note");
    let (status, _) = post(&bulk, json!({"ids": [picked[0], "no-such-alert"], "state": "closed", "note": "x"})).await;
    assert_eq!(status, 404);
    assert_refused(&post(&bulk, json!({"state": "closed", "note": "x"})).await, "needs \"ids\"");
    let (status, r) = post(&bulk, json!({"ids": picked, "state": "closed", "note": "benign: the nightly scan"})).await;
    assert_eq!((status, r["changed"].as_i64()), (200, Some(2)), "{r}");
    let closed = get(&format!("{base}/api/alerts?state=closed&limit=1000")).await.1;
    let closed: Vec<&str> =
        closed["alerts"].as_array().unwrap().iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
    assert!(picked.iter().all(|p| closed.contains(p)), "{closed:?}");
    // By filter: every alert of one rule (not one page), one audit row each, in one commit.
    let group = by_rule["groups"].as_array().unwrap().iter().max_by_key(|g| g["alerts"].as_i64()).unwrap();
    let rule_id = group["key"].as_str().unwrap();
    let triage_rows = |lake: &Path| sql(lake, "SELECT count(*) AS n FROM alert_triage")[0]["n"].as_i64().unwrap();
    let rows_before = triage_rows(lake);
    let filter = json!({"filter": {"rule": rule_id}, "state": "closed", "note": "one rule's noise", "reason": "tuning_needed", "by": "erin"});
    let (status, r) = post(&bulk, filter).await;
    let in_rule = group["alerts"].as_i64().unwrap();
    assert_eq!((status, r["changed"].as_i64()), (200, Some(in_rule)), "{r}");
    assert_eq!(triage_rows(lake), rows_before + in_rule);
    let audit = sql(
        lake,
        &format!(
            "SELECT count(DISTINCT t.alert_id) AS n FROM alert_triage t JOIN alerts a ON a.alert_id = t.alert_id \
             WHERE a.rule_id = '{rule_id}' AND t.reason = 'tuning_needed' AND t.actor = 'erin' AND t.note = 'one rule''s noise'"
        ),
    );
    assert_eq!(audit[0]["n"].as_i64(), Some(in_rule));
    assert_refused(&post(&bulk, json!({"filter": {"colour": "red"}, "state": "open"})).await, "unknown parameter");

    // An exception from the console is checked as the CLI checks one.
    let exceptions = format!("{base}/api/exceptions");
    let rule = alerts[0]["rule_id"].clone();
    let bad = json!({"rule": rule, "condition": "useragent = 'x'", "reason": "r", "owner": "o", "days": 30});
    assert_refused(&post(&exceptions, bad).await, "user_agent");
    let long = json!({"rule": rule, "condition": "true", "reason": "r", "owner": "o", "days": 400});
    assert_refused(&post(&exceptions, long).await, "days must be from 1 to 366");
    let unknown = json!({"rule": "no-such-rule", "condition": "true", "reason": "r", "owner": "o"});
    assert_refused(&post(&exceptions, unknown).await, "no rule");
    assert_eq!(get(&exceptions).await.1["exceptions"], json!([]));

    // The editor's list of tables and views.
    let schema = get(&format!("{base}/api/schema")).await.1;
    let tables = schema["tables"].as_array().unwrap();
    let cloudtrail = tables.iter().find(|t| t["name"] == "cloudtrail").unwrap();
    assert!(cloudtrail["columns"].as_array().unwrap().iter().any(|c| c["name"] == "useridentity.arn"));
    assert!(tables.iter().any(|t| t["name"] == "actors" && t["kind"] == "view"));
    assert!(tables.iter().any(|t| t["name"] == "alert_triage"));
    // And the functions it completes: DataFusion's scalar, aggregate and window functions and
    // trailhouse's own, sorted, each once.
    let functions: Vec<&str> = schema["functions"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    for f in ["principal", "arn_account", "count", "date_trunc", "row_number"] {
        assert!(functions.contains(&f), "{f} not in {functions:?}");
    }
    assert!(functions.windows(2).all(|w| w[0] < w[1]), "not sorted and deduplicated: {functions:?}");

    // A query: started, polled, paged.
    let queries = format!("{base}/api/queries");
    let (status, started) =
        post(&queries, json!({"sql": "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC, 1"}))
            .await;
    assert_eq!(status, 202, "{started}");
    let done = finished(&base, started["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "done", "{done}");
    let names = sql(lake, "SELECT count(DISTINCT eventname) AS n FROM cloudtrail")[0]["n"].as_u64().unwrap();
    assert_eq!(done["rows"].as_u64(), Some(names));
    assert_eq!(done["columns"], json!([{"name": "eventname", "type": "string"}, {"name": "n", "type": "integer"}]));
    let second = get(&format!("{base}/api/queries/{}?offset=1&limit=1", started["id"].as_str().unwrap())).await.1;
    assert_eq!(second["page"][0], done["page"][1]);

    // SQL errors read as the CLI's; nothing that writes or creates runs.
    assert_refused(&post(&queries, json!({"sql": "SELECT evntname FROM cloudtrail"})).await, "did you mean eventname");
    assert_refused(&post(&queries, json!({"sql": "SELEC 1"})).await, "SQL syntax error");
    assert_refused(&post(&queries, json!({"sql": "CREATE VIEW v AS SELECT 1"})).await, "only queries run here");
    let target = lake.with_file_name("copied");
    let copy = format!("COPY (SELECT 1) TO '{}' STORED AS CSV", target.display());
    assert_refused(&post(&queries, json!({"sql": copy})).await, "only queries run here");
    assert!(!target.exists());
    assert_refused(&post(&queries, json!({"query": "SELECT 1"})).await, "needs \"sql\"");

    // A long query shows its progress, can be cancelled, and then stops using the CPU.
    let (_, long) = post(&queries, json!({"sql": "SELECT count(*) FROM range(100000000000)"})).await;
    let id = long["id"].as_str().unwrap();
    let running = get(&format!("{base}/api/queries/{id}")).await.1;
    assert_eq!(running["state"], "running", "{running}");
    let (status, c) = call(reqwest::Client::new().delete(format!("{base}/api/queries/{id}"))).await;
    assert_eq!((status, &c["state"]), (200, &json!("cancelled")), "{c}");
    let after = finished(&base, id).await;
    assert_eq!(after["state"], "cancelled");
    // The server goes idle: the query's work was dropped, not just its status changed (it
    // would keep a core busy for minutes otherwise). Measured over half-second windows
    // until one is quiet, within a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = cpu_seconds(server.child.id());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let used = cpu_seconds(server.child.id()) - before;
        if used < 0.2 {
            break;
        }
        assert!(Instant::now() < deadline, "the server still used {used:.2} CPU s per 0.5 s, 10 s after the cancel");
    }
    // A request from another site's page (an <img>, a form) does not reach the API.
    let cross = reqwest::Client::new()
        .post(&queries)
        .header("content-type", "application/json")
        .header("sec-fetch-site", "cross-site")
        .body(json!({"sql": "SELECT 1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status().as_u16(), 403);
    let form =
        reqwest::Client::new().post(&queries).header("content-type", "text/plain").body("{\"sql\": \"SELECT 1\"}");
    assert_refused(&call(form).await, "send the body as JSON");
    assert_eq!(get(&format!("{base}/api/queries/nope")).await.0, 404);

    // Downloads: the whole result, as CSV and as Parquet.
    let q = urlencode("SELECT eventid FROM cloudtrail ORDER BY eventid");
    let csv = reqwest::get(format!("{base}/api/download?format=csv&sql={q}")).await.unwrap();
    assert_eq!(csv.status().as_u16(), 200);
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("trailhouse-result.csv"));
    let csv = csv.text().await.unwrap();
    let events = sql(lake, "SELECT count(*) AS n FROM cloudtrail")[0]["n"].as_u64().unwrap();
    assert_eq!(csv.lines().count() as u64, events + 1, "a header and one line per event");
    let parquet = reqwest::get(format!("{base}/api/download?format=parquet&sql={q}")).await.unwrap();
    let bytes = parquet.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    assert_refused(&get(&format!("{base}/api/download?format=xlsx&sql={q}")).await, "format must be one of");

    // What the header shows, without reading the lake.
    let info = get(&format!("{base}/api/info")).await.1;
    assert_eq!(info["lake"].as_str().map(Path::new), Some(lake));

    // Unknown endpoints, and a page asked for by another host name (DNS rebinding).
    assert_eq!(get(&format!("{base}/api/nothing-here")).await.0, 404);
    let (status, page) = call(reqwest::Client::new().get(format!("{base}/alerts"))).await;
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("<script"), "the UI's page");
    let rebound =
        reqwest::Client::new().get(format!("{base}/api/overview")).header("host", "evil.example").send().await;
    assert_eq!(rebound.unwrap().status().as_u16(), 403);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_request_without_it_gets_401() {
    let lake = demo_lake();
    let server = Server::start(lake, &[], Some("s3cret-token-for-the-tests"));
    let base = &server.url;
    for path in ["/", "/alerts", "/assets/app.js", "/api/overview", "/api/alerts"] {
        assert_eq!(get(&format!("{base}{path}")).await.0, 401, "{path}");
    }
    let client = reqwest::Client::new();
    let wrong =
        client.get(format!("{base}/api/alerts")).bearer_auth("s3cret-token-for-the-testS").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let (status, _) = call(client.get(format!("{base}/api/alerts")).bearer_auth("s3cret-token-for-the-tests")).await;
    assert_eq!(status, 200);
    // Opened once with ?token=, the browser keeps it as a cookie.
    let first = client.get(format!("{base}/?token=s3cret-token-for-the-tests")).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let cookie = first.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let port = base.rsplit(':').next().unwrap();
    assert_eq!(cookie, format!("trailhouse_token_{port}=s3cret-token-for-the-tests"));
    let (status, _) = call(client.get(format!("{base}/api/overview")).header("cookie", cookie)).await;
    assert_eq!(status, 200);
    // A stale cookie from an earlier token does not shadow a fresh ?token=.
    let stale = client
        .get(format!("{base}/?token=s3cret-token-for-the-tests"))
        .header("cookie", format!("trailhouse_token_{port}=an-older-token-0000"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 200);
    // The token never reaches the log.
    assert!(!server.log().contains("s3cret-token-for-the-tests"));
    // A token that is easy to guess is refused at the start.
    let out = trailhouse()
        .args(["serve", "--bind", "127.0.0.1:0", "--lake"])
        .arg(lake)
        .env("TRAILHOUSE_SERVE_TOKEN", "1234")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"), "{}", String::from_utf8_lossy(&out.stderr));
    // Off loopback, a console without a token does not start.
    let out = trailhouse().args(["serve", "--bind", "0.0.0.0:0", "--lake"]).arg(lake).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs --auth-token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Alerts in attention order: open before acknowledged before closed, then the most severe,
/// then the newest.
fn assert_attention_order(alerts: &[Value]) {
    let rank = |a: &Value| {
        let state = ["open", "acknowledged", "closed"].iter().position(|s| a["state"] == *s).unwrap();
        let severity =
            ["critical", "high", "medium", "low", "info"].iter().position(|s| a["severity"] == *s).unwrap_or(5);
        (state, severity, std::cmp::Reverse(a["last_seen"].as_str().unwrap().to_string()))
    };
    let ranks: Vec<_> = alerts.iter().map(rank).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "not in attention order: {ranks:?}");
}

/// CPU seconds (user + system) a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A copy of the demo lake, for a test that changes it.
fn lake_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("lake");
    let ok = Command::new("cp").arg("-r").arg(demo_lake()).arg(&copy).status().unwrap();
    assert!(ok.success());
    (dir, copy)
}

/// A WebDriver session in Debian's headless Chromium, through ChromeDriver on a free port.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // The browser ChromeDriver started outlives it when killed: end it by its profile.
        let _ = Command::new("pkill").arg("-f").arg(self.profile.as_os_str()).status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub(crate) async fn start() -> Browser {
        let chromedriver = test_support::chromedriver();
        assert!(
            Path::new(&chromedriver).exists(),
            "this test needs a headless browser: no ChromeDriver at {chromedriver}; run scripts/browser.sh install"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap().keep();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            profile: profile.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while b.client.get(format!("{}/status", b.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "ChromeDriver did not answer within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ];
        let mut args: Vec<String> = args.map(String::from).to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": std::env::var("TRAILHOUSE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()), "args": args}}}});
        let session = b.command("POST", "/session", caps).await;
        let id = session["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {session}")).to_string();
        b.base = format!("{}/session/{id}", b.base);
        b
    }

    pub(crate) async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).header("content-type", "application/json").body(body.to_string()),
        };
        let (status, answer) = call(request).await;
        assert_eq!(status, 200, "WebDriver {method} {path}: {answer}");
        answer["value"].clone()
    }

    pub(crate) async fn open(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url})).await;
    }

    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Polls a JavaScript expression until it is truthy (or 30 s pass); returns its value.
    pub(crate) async fn wait_for(&self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.eval(&format!("return {expression};")).await;
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            let page = self.eval("return document.body ? document.body.innerText.slice(0, 2000) : ''").await;
            assert!(
                Instant::now() < deadline,
                "no {what} within 30 s; the page says:\n{}",
                page.as_str().unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a page of the UI to say it has loaded.
    pub(crate) async fn ready(&self, page: &str) {
        self.wait_for(
            &format!("the {page} page"),
            &format!("document.body.dataset.page === '{page}' && document.body.dataset.ready === '1'"),
        )
        .await;
        let error = self
            .eval("const e = document.getElementById('error'); return e && e.offsetParent ? e.textContent : ''")
            .await;
        assert_eq!(error, json!(""), "the {page} page shows an error");
    }

    async fn click(&self, css: &str) {
        let e = self.command("POST", "/element", json!({"using": "css selector", "value": css})).await;
        let id = e[ELEMENT].as_str().unwrap().to_string();
        self.command("POST", &format!("/element/{id}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.command("POST", "/element", json!({"using": "css selector", "value": css})).await;
        let id = e[ELEMENT].as_str().unwrap().to_string();
        self.command("POST", &format!("/element/{id}/clear"), json!({})).await;
        self.command("POST", &format!("/element/{id}/value"), json!({"text": text})).await;
    }

    /// Resizes the window to `width` x `height` and waits for the page to lay itself out
    /// again (two animation frames after the resize).
    async fn resize(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", json!({"width": width, "height": height})).await;
        let script = "const done = arguments[arguments.length - 1]; \
                      requestAnimationFrame(() => requestAnimationFrame(() => done(window.innerWidth)));";
        self.command("POST", "/execute/async", json!({"script": script, "args": []})).await;
    }

    /// Screenshots of the page at 1,280 and 1,440 pixels wide, as `NAME-1280.png` and
    /// `NAME-1440.png` in `target/ui-screenshots/` (or `$TRAILHOUSE_UI_SCREENSHOTS`: the
    /// ones in `docs/console/` are made with it).
    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let dir = std::env::var_os("TRAILHOUSE_UI_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        for (width, height) in [(1280, 800), (1440, 900)] {
            self.resize(width, height).await;
            let png = self.command("GET", "/screenshot", json!({})).await;
            let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
            std::fs::write(dir.join(format!("{name}-{width}.png")), bytes).unwrap();
        }
        self.resize(1400, 1000).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_pages_work_in_a_real_browser_and_triage_survives_a_restart() {
    let (_dir, lake) = lake_copy();
    // A folder of named queries, listed on the SQL page.
    let saved = lake.with_file_name("queries");
    std::fs::create_dir_all(&saved).unwrap();
    std::fs::write(
        saved.join("events-by-hour.sql"),
        "-- Events per hour since a time.\n-- param since = 2000-01-01\n\
         SELECT date_trunc('hour', eventtime) AS hour, count(*) AS events FROM cloudtrail\n\
         WHERE eventtime >= ${since} GROUP BY 1 ORDER BY 1\n",
    )
    .unwrap();
    let server = Server::start(&lake, &["--queries", saved.to_str().unwrap()], None);
    let browser = Browser::start().await;

    // Overview: the chart has one point per hour of the window.
    browser.open(&format!("{}/overview?hours=24", server.url)).await;
    browser.ready("overview").await;
    let hours = sql(
        &lake,
        "SELECT count(DISTINCT date_trunc('hour', eventtime)) AS n FROM cloudtrail \
         WHERE eventtime > (SELECT max(eventtime) FROM cloudtrail) - INTERVAL '24 hours'",
    );
    let points = browser.wait_for("the hours chart", "document.getElementById('hours-chart').dataset.points").await;
    assert_eq!(points.as_str().unwrap().parse::<u64>().unwrap(), hours[0]["n"].as_u64().unwrap());
    assert!(
        browser.eval("return document.querySelectorAll('#hours-chart canvas').length").await.as_u64().unwrap() >= 1
    );
    browser.screenshot("overview").await;

    // Alerts: the list, then the newest alert's page with its events.
    browser.click("#nav-alerts").await;
    browser.ready("alerts").await;
    let rows = browser.eval("return document.querySelectorAll('#alerts-table tbody tr[data-alert-id]').length").await;
    let total = get(&format!("{}/api/alerts", server.url)).await.1["total"].as_u64().unwrap();
    assert_eq!(rows.as_u64().unwrap(), total.min(100));
    // What needs attention first: the demo lake has open criticals, so the first row is one.
    let first_row = "document.querySelector('#alerts-table tbody tr[data-alert-id]')";
    assert_eq!(browser.eval(&format!("return {first_row}.dataset.severity")).await, "critical");
    assert_eq!(browser.eval(&format!("return {first_row}.dataset.state")).await, "open");
    // Every column, State included, fits a 1,280-pixel window, and no row is taller than
    // two lines of a title.
    browser.resize(1280, 800).await;
    let overflow = browser
        .eval("const w = document.querySelector('#alerts-table').closest('.table-wrap'); return w.scrollWidth - w.clientWidth")
        .await;
    assert!(overflow.as_i64().unwrap() <= 0, "the alerts table is {overflow} px wider than its box at 1,280 px");
    let tallest = browser
        .eval("return Math.max(...[...document.querySelectorAll('#alerts-table tbody tr')].map((r) => r.getBoundingClientRect().height))")
        .await;
    assert!(tallest.as_f64().unwrap() <= 60.0, "a row is {tallest} px tall");
    browser.resize(1400, 1000).await;
    // A column header sorts.
    browser.click("#alerts-table th a.sort[data-sort='events']").await;
    browser.wait_for("sorted by events", "/sort=events/.test(location.search)").await;
    browser.ready("alerts").await;
    let events: Vec<i64> = serde_json::from_value(
        browser
            .eval("return [...document.querySelectorAll('#alerts-table tbody tr[data-alert-id] td.num')].map((c) => Number(c.textContent.replace(/,/g, '')))")
            .await,
    )
    .unwrap();
    assert!(events.windows(2).all(|w| w[0] >= w[1]), "not most events first: {events:?}");
    browser.click("#sort-attention").await;
    browser.wait_for("the attention order", "!/sort=/.test(location.search)").await;
    browser.ready("alerts").await;
    // Incidents come first, highest score first, with their tactics as a strip.
    let incidents = get(&format!("{}/api/incidents", server.url)).await.1;
    let shown = browser.eval("return document.querySelectorAll('#incidents-table tr.incident').length").await;
    assert_eq!(shown.as_u64().unwrap() as usize, incidents["incidents"].as_array().unwrap().len());
    let first = browser.eval("return document.querySelector('#incidents-table tr.incident').dataset.incidentId").await;
    assert_eq!(first, incidents["incidents"][0]["incident_id"]);
    let incidents_first = browser
        .eval("return document.getElementById('incidents').compareDocumentPosition(document.getElementById('alerts-table')) & 4")
        .await;
    assert_eq!(incidents_first.as_u64(), Some(4), "the incidents are above the alerts");
    browser.screenshot("alerts").await;
    // Two alerts acknowledged at once, with one note.
    let before = get(&format!("{}/api/alerts?state=acknowledged", server.url)).await.1["total"].as_u64().unwrap();
    browser
        .eval("const p = document.querySelectorAll('#alerts-table tbody input.pick'); p[1].checked = true; p[2].checked = true; return 1")
        .await;
    browser.type_into("#bulk-note", "on it").await;
    let badges = "document.querySelectorAll('#alerts-table tbody tr[data-alert-id] .state-acknowledged').length";
    let shown_before = browser.eval(&format!("return {badges}")).await.as_u64().unwrap();
    browser.click("#bulk-ack").await;
    // The page reloads its list once the change is recorded: the two rows then say so.
    browser.wait_for("the two rows acknowledged", &format!("{badges} >= {}", shown_before + 2)).await;
    browser.ready("alerts").await;
    let now = get(&format!("{}/api/alerts?state=acknowledged", server.url)).await.1["total"].as_u64().unwrap();
    assert_eq!(now, before + 2, "the bulk acknowledge reached the lake");
    let id =
        browser.eval("return document.querySelector('#alerts-table tbody tr[data-alert-id]').dataset.alertId").await;
    let id = id.as_str().unwrap().to_string();
    browser.click("#alerts-table tbody tr[data-alert-id] a").await;
    browser.ready("alert").await;
    assert!(browser.eval("return location.pathname").await.as_str().unwrap().ends_with(&id), "a shareable URL");
    let events = get(&format!("{}/api/alerts/{id}", server.url)).await.1["events"]["rows"].as_array().unwrap().len();
    let shown = browser.eval("return document.querySelectorAll('#alert-events tbody tr[data-event-id]').length").await;
    assert_eq!(shown.as_u64().unwrap() as usize, events);
    assert!(events > 0);
    // Evidence first: at 1,440 x 900 the events are on the screen without scrolling, and
    // an event opens to its request, response and whole record.
    browser.resize(1440, 900).await;
    let bottom = browser
        .eval("return document.querySelector('#alert-events tbody tr[data-event-id]').getBoundingClientRect().bottom")
        .await;
    let height = browser.eval("return window.innerHeight").await;
    assert!(bottom.as_f64().unwrap() <= height.as_f64().unwrap(), "the first event ends at {bottom} px of {height}");
    browser.resize(1400, 1000).await;
    browser.click("#alert-events tbody tr[data-event-id] button.expand").await;
    let raw = browser
        .wait_for(
            "the event's whole record",
            "!document.querySelector('#alert-events tr.event-more').hidden && document.querySelector('#alert-events tr.event-more details.raw pre').textContent",
        )
        .await;
    let record: Value = serde_json::from_str(raw.as_str().unwrap()).unwrap();
    let first_event =
        browser.eval("return document.querySelector('#alert-events tbody tr[data-event-id]').dataset.eventId").await;
    assert_eq!(record["eventid"], first_event, "the record is the event's");
    assert!(record.get("requestparameters").is_some() && record.get("useridentity").is_some(), "{record}");
    let reproduce = browser.eval("return document.getElementById('alert-sql').getAttribute('href')").await;
    assert!(reproduce.as_str().unwrap().starts_with("/sql?q="), "{reproduce}");
    // A pivot keeps the alert's context: its source address opens on its account and the
    // day around it, and lists this alert among the address's.
    let api_alert = get(&format!("{}/api/alerts/{id}", server.url)).await.1["alert"].clone();
    assert!(
        api_alert["source_ips"].as_array().is_some_and(|ips| !ips.is_empty())
            && api_alert["accounts"].as_array().unwrap().len() == 1,
        "the first alert names one account and a source address: {api_alert}"
    );
    {
        browser.click(".alert-line a.inv[href*='kind=ip']").await;
        browser.ready("investigate").await;
        let search = browser.eval("return location.search").await;
        let params: std::collections::HashMap<String, String> = serde_json::from_value(
            browser.eval("return Object.fromEntries(new URLSearchParams(location.search))").await,
        )
        .unwrap();
        assert_eq!(params.get("account").map(String::as_str), api_alert["accounts"][0].as_str(), "{search}");
        let from = params["from"].as_str();
        let to = params["to"].as_str();
        assert!(
            from <= api_alert["first_seen"].as_str().unwrap() && to >= api_alert["last_seen"].as_str().unwrap(),
            "{search}"
        );
        assert!(browser.eval("return !!document.getElementById('investigate-account')").await == json!(true));
        let listed = browser
            .eval(&format!("return !!document.querySelector('#investigate-alerts tr[data-alert-id=\"{id}\"]')"))
            .await;
        assert_eq!(listed, json!(true), "the pivot lists the alert it came from");
        browser.eval("history.back(); return 1").await;
        browser.ready("alert").await;
    }

    // Triage: acknowledged with a note, then the server restarts and the page still says so.
    assert_eq!(browser.eval("return document.getElementById('triage-current').textContent").await, "open");
    browser.eval("const s = document.getElementById('triage-state'); s.value = 'acknowledged'; s.dispatchEvent(new Event('change')); return 1").await;
    browser.type_into("#triage-note", "checking with the owner").await;
    browser.click("#triage-save").await;
    browser
        .wait_for("the triage saved", "document.getElementById('triage-current').textContent === 'acknowledged'")
        .await;
    browser.screenshot("alert").await;
    drop(server);
    let server = Server::start(&lake, &["--queries", saved.to_str().unwrap()], None);
    browser.open(&format!("{}/alerts/{id}", server.url)).await;
    browser.ready("alert").await;
    assert_eq!(browser.eval("return document.getElementById('triage-current').textContent").await, "acknowledged");
    let history = browser.eval("return document.getElementById('triage-history').textContent").await;
    assert!(history.as_str().unwrap().contains("checking with the owner"), "{history}");

    // Closed as benign: the page proposes the narrowest exception, added on confirmation.
    browser.eval("const s = document.getElementById('triage-state'); s.value = 'closed'; s.dispatchEvent(new Event('change')); return 1").await;
    browser.type_into("#triage-note", "the owner's planned change").await;
    browser.click("#triage-save").await;
    let condition = browser
        .wait_for(
            "the proposal",
            "document.getElementById('exception-condition') && document.getElementById('exception-condition').value",
        )
        .await;
    let alert = get(&format!("{}/api/alerts/{id}", server.url)).await.1["alert"].clone();
    let condition = condition.as_str().unwrap().to_string();
    assert!(condition.contains(alert["accounts"][0].as_str().unwrap()), "{condition}");
    browser.type_into("#exception-owner", "secops").await;
    browser.click("#exception-add").await;
    browser
        .wait_for("the exception added", "/Added exception/.test(document.getElementById('exception-msg').textContent)")
        .await;
    let exceptions = get(&format!("{}/api/exceptions", server.url)).await.1;
    let added = &exceptions["exceptions"][0];
    assert_eq!(
        (added["rule"].clone(), added["condition"].as_str()),
        (alert["rule_id"].clone(), Some(condition.as_str()))
    );
    assert_eq!(added["reason"], "the owner's planned change");

    // Investigate the alert's identity: its ARN pasted into the box finds its events.
    let full = get(&format!("{}/api/alerts/{id}", server.url)).await.1["alert"]["full_principal"].clone();
    let full = full.as_str().unwrap();
    browser.click("#nav-investigate").await;
    browser.ready("investigate").await;
    browser.type_into("#investigate-value", full).await;
    browser.click("#investigate-form button[type=submit]").await;
    browser.wait_for("the identity's calls", "document.querySelectorAll('#investigate-calls tbody tr').length").await;
    browser.ready("investigate").await;
    assert_eq!(browser.eval("return new URLSearchParams(location.search).get('kind')").await, "principal");
    let calls = browser.eval("return document.querySelectorAll('#investigate-calls tbody tr').length").await;
    let want = sql(
        &lake,
        &format!(
            "SELECT count(*) AS n FROM cloudtrail WHERE useridentity.arn = '{full}' \
             OR useridentity.sessioncontext.sessionissuer.arn = '{full}'"
        ),
    )[0]["n"]
        .as_u64()
        .unwrap();
    assert_eq!(calls.as_u64().unwrap(), want.min(500));
    browser.wait_for("the timeline chart", "document.querySelectorAll('#investigate-timeline canvas').length").await;
    browser.screenshot("investigate").await;

    // Triage at the scale of a noisy rule: the alerts grouped by rule, the busiest group
    // closed as benign with one note: one audit row per alert in it (who, why), and the
    // exception that would keep the rule quiet for this is proposed.
    browser.open(&format!("{}/alerts?group=rule", server.url)).await;
    browser.ready("alerts").await;
    browser.screenshot("alerts-by-rule").await;
    let groups = get(&format!("{}/api/alerts/groups?by=rule", server.url)).await.1;
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["open"].as_i64() > Some(0))
        .max_by_key(|g| g["alerts"].as_i64())
        .unwrap()
        .clone();
    let rule_id = group["key"].as_str().unwrap();
    let shown = browser.eval("return document.querySelectorAll('#groups-table tbody tr[data-group]').length").await;
    assert_eq!(shown.as_u64().unwrap() as usize, groups["groups"].as_array().unwrap().len());
    browser
        .eval(&format!(
            "document.querySelector('#groups-table tr[data-group=\"{rule_id}\"] input.pick').checked = true; return 1"
        ))
        .await;
    browser.eval("const r = document.getElementById('bulk-reason'); r.value = 'benign'; r.dispatchEvent(new Event('change')); return 1").await;
    browser.type_into("#bulk-note", "the scanner's weekly run").await;
    browser.type_into("#bulk-by", "erin").await;
    browser.click("#bulk-close").await;
    browser.wait_for("the exception proposal", "document.querySelector('#bulk-proposal #exception-condition')").await;
    browser.ready("alerts").await;
    let audit = sql(
        &lake,
        &format!(
            "SELECT count(*) AS n, count(DISTINCT t.alert_id) AS alerts FROM alert_triage t JOIN alerts a ON a.alert_id = t.alert_id \
             WHERE a.rule_id = '{rule_id}' AND t.reason = 'benign' AND t.actor = 'erin' AND t.note = 'the scanner''s weekly run'"
        ),
    );
    let in_group = group["alerts"].as_i64();
    assert_eq!((audit[0]["n"].as_i64(), audit[0]["alerts"].as_i64()), (in_group, in_group), "one audit row per alert");
    let still_open = get(&format!("{}/api/alerts?rule={rule_id}&state=open", server.url)).await.1;
    assert_eq!(still_open["total"], 0, "{still_open}");

    // SQL: a query typed and run; the result as a table and, with a time and a number, a chart.
    browser.click("#nav-sql").await;
    browser.ready("sql").await;
    let query =
        "SELECT date_trunc('hour', eventtime) AS hour, count(*) AS events FROM cloudtrail GROUP BY 1 ORDER BY 1";
    browser.type_into("#sql-editor", query).await;
    browser.click("#sql-run").await;
    let want = sql(&lake, "SELECT count(DISTINCT date_trunc('hour', eventtime)) AS n FROM cloudtrail")[0]["n"]
        .as_u64()
        .unwrap();
    let rows = browser
        .wait_for(
            "the result",
            "document.getElementById('sql-results') && document.getElementById('sql-results').dataset.rows",
        )
        .await;
    assert_eq!(rows.as_str().unwrap().parse::<u64>().unwrap(), want);
    browser.wait_for("the result chart", "document.querySelectorAll('#sql-chart canvas').length").await;
    let chart =
        browser.eval("const c = document.getElementById('sql-chart'); return [c.dataset.kind, c.dataset.series]").await;
    assert_eq!(chart, json!(["time", "1"]), "one line per number");
    // No stray "null" above the table (a result that is not truncated has no warning there).
    let stray = "return [[...document.querySelector('.sql-results-box').childNodes].filter((n) => n.nodeType === 3).length, \
                 (() => { const w = document.createTreeWalker(document.querySelector('.sql-main'), NodeFilter.SHOW_TEXT); \
                 let n = 0; while (w.nextNode()) if (w.currentNode.textContent.trim() === 'null' \
                 && !w.currentNode.parentElement.closest('td')) n++; return n; })()]";
    assert_eq!(browser.eval(stray).await, json!([0, 0]), "text outside the table's cells says null");
    assert!(browser.eval("return location.search").await.as_str().unwrap().starts_with("?q="), "a shareable URL");
    browser.screenshot("sql").await;
    // A mistake reads as the CLI's message.
    browser.type_into("#sql-editor", "SELECT evntname FROM cloudtrail").await;
    browser.click("#sql-run").await;
    let error = browser.wait_for("the error", "document.getElementById('sql-error').textContent").await;
    assert!(error.as_str().unwrap().contains("did you mean eventname"), "{error}");
    // A named query: listed with its parameter, a click puts it in the editor with the
    // default filled in, and it runs.
    browser.wait_for("the named queries", "document.querySelectorAll('#sql-saved li.saved').length").await;
    let listed = browser.eval("return document.getElementById('sql-saved').textContent").await;
    assert!(listed.as_str().unwrap().contains("since=2000-01-01"), "{listed}");
    browser.click("#sql-saved li[data-name='events-by-hour'] button").await;
    let text = browser.eval("return document.getElementById('sql-editor').value").await;
    assert!(text.as_str().unwrap().contains("WHERE eventtime >= '2000-01-01'"), "{text}");
    browser.click("#sql-run").await;
    let rows = browser
        .wait_for(
            "the named query's result",
            "document.getElementById('sql-results') && document.getElementById('sql-results').dataset.rows",
        )
        .await;
    assert_eq!(rows.as_str().unwrap().parse::<u64>().unwrap(), want);

    // The chart follows the result's shape: a time, a text and a number draw one line per
    // text value (here per account)...
    let by_account = "SELECT date_trunc('day', eventtime) AS day, recipientaccountid AS account, count(*) AS n \
                      FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2";
    browser.type_into("#sql-editor", by_account).await;
    browser.click("#sql-run").await;
    browser.ready("sql").await;
    let accounts =
        sql(&lake, "SELECT count(DISTINCT recipientaccountid) AS n FROM cloudtrail")[0]["n"].as_u64().unwrap();
    let chart =
        browser.eval("const c = document.getElementById('sql-chart'); return [c.dataset.kind, c.dataset.series]").await;
    assert_eq!(chart, json!(["time-groups", accounts.to_string()]), "one line per account");
    browser.wait_for("the accounts chart", "document.querySelectorAll('#sql-chart canvas').length").await;
    assert_eq!(browser.eval(stray).await, json!([0, 0]), "text outside the table's cells says null");
    browser.screenshot("sql-groups").await;
    // ... and a text and a number without a time, a bar per row (a top 10).
    let top = "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC LIMIT 10";
    browser.type_into("#sql-editor", top).await;
    browser.click("#sql-run").await;
    browser.ready("sql").await;
    let chart = browser
        .eval("const c = document.getElementById('sql-chart'); return [c.dataset.kind, c.dataset.series, c.querySelectorAll('.sql-bar').length]")
        .await;
    assert_eq!(chart, json!(["bars", "1", 10]), "a bar per event name");
    browser.screenshot("sql-bars").await;

    // Completion: names follow the typing; Tab, Enter or a click accept, Escape closes,
    // Ctrl+Space opens. Keys go to the editor without clearing it.
    async fn keys(browser: &Browser, text: &str) {
        let e = browser.command("POST", "/element", json!({"using": "css selector", "value": "#sql-editor"})).await;
        let id = e[ELEMENT].as_str().unwrap().to_string();
        browser.command("POST", &format!("/element/{id}/value"), json!({"text": text})).await;
    }
    let shown = "!document.getElementById('sql-complete').hidden \
                 && [...document.querySelectorAll('#sql-complete li')].map((li) => li.dataset.value)";
    let editor = "return document.getElementById('sql-editor').value";
    browser.type_into("#sql-editor", "SELECT useridentity.").await;
    let leaves = browser.wait_for("the struct's leaves", shown).await;
    let leaves: Vec<&str> = leaves.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        leaves.contains(&"useridentity.arn") && leaves.iter().all(|l| l.starts_with("useridentity.")),
        "{leaves:?}"
    );
    keys(&browser, "ar").await;
    let offered =
        browser.wait_for("useridentity.arn first", &format!("({shown}) && ({shown})[0] === 'useridentity.arn'")).await;
    assert_eq!(offered, json!(true));
    keys(&browser, "\u{E004}").await; // Tab
    assert_eq!(browser.eval(editor).await, "SELECT useridentity.arn");
    keys(&browser, " FROM cloudt").await;
    browser
        .wait_for("the table offered", "document.querySelector(\"#sql-complete li[data-value='cloudtrail']\")")
        .await;
    browser.click("#sql-complete li[data-value='cloudtrail']").await;
    assert_eq!(browser.eval(editor).await, "SELECT useridentity.arn FROM cloudtrail");
    assert_eq!(browser.eval("return document.getElementById('sql-complete').hidden").await, true);
    // Functions, trailhouse's included; Escape closes, Ctrl+Space opens again, Enter accepts.
    browser.type_into("#sql-editor", "SELECT arn_acc").await;
    browser.wait_for("the function offered", &format!("({shown}) && ({shown}).includes('arn_account')")).await;
    keys(&browser, "\u{E00C}").await; // Escape
    assert_eq!(browser.eval("return document.getElementById('sql-complete').hidden").await, true);
    keys(&browser, "\u{E009} \u{E000}").await; // Ctrl+Space
    browser.wait_for("the list opened again", &format!("({shown}) && ({shown})[0] === 'arn_account'")).await;
    keys(&browser, "\u{E007}").await; // Enter
    assert_eq!(browser.eval(editor).await, "SELECT arn_account");
    browser.type_into("#sql-editor", "SELECT princ").await;
    browser.wait_for("principal offered", &format!("({shown}) && ({shown}).includes('principal')")).await;
    keys(&browser, "\u{E00C}").await;

    // History: every query run, newest first, once each, in this browser's storage; listed in
    // the aside (a click puts one in the editor) and walked with Alt+Up / Alt+Down.
    let stored =
        browser.eval("return JSON.parse(localStorage.getItem('trailhouse.sql.history')).map((x) => x.sql)").await;
    let stored: Vec<&str> = stored.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(stored.first().copied(), Some(top), "{stored:?}");
    assert_eq!(stored.get(1).copied(), Some(by_account), "{stored:?}");
    assert!(stored.contains(&query) && stored.contains(&"SELECT evntname FROM cloudtrail"), "{stored:?}");
    let mut once = stored.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!(once.len(), stored.len(), "{stored:?}");
    let listed =
        browser.eval("return [...document.querySelectorAll('#sql-history li.hist button')].map((b) => b.title)").await;
    assert_eq!(listed, json!(stored));
    browser.click("#sql-history li.hist:nth-child(2) button").await;
    assert_eq!(browser.eval(editor).await, by_account);
    browser.eval("const e = document.getElementById('sql-editor'); e.value = 'SELECT 1'; e.focus(); return 1").await;
    keys(&browser, "\u{E00A}\u{E013}\u{E000}").await; // Alt+Up: the newest
    assert_eq!(browser.eval(editor).await, top);
    keys(&browser, "\u{E00A}\u{E013}\u{E000}").await; // Alt+Up: the one before
    assert_eq!(browser.eval(editor).await, by_account);
    keys(&browser, "\u{E00A}\u{E015}\u{E015}\u{E000}").await; // Alt+Down twice: back to the draft
    assert_eq!(browser.eval(editor).await, "SELECT 1");
    // It outlives a reload of the page.
    browser.open(&format!("{}/sql", server.url)).await;
    browser.ready("sql").await;
    let first = browser.eval("return document.querySelector('#sql-history li.hist button').title").await;
    assert_eq!(first, top);
    browser.command("DELETE", "", json!({})).await;
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
