//! The SQS-driven service end to end: the real binary, the real aws-sdk-s3/sqs clients,
//! the local S3/SQS server that scripts/test.sh starts on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use aws_sdk_sqs::types::QueueAttributeName;
use test_support::{dataset_files, endpoint, keys_under, upload_trail};

use crate::local_aws::{bucket_and_queue, clients, notify, queue_depth, s3_note};

struct Env {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    bucket: String,
    queue: String,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let (s3, sqs) = clients().await;
    let (bucket, queue) = bucket_and_queue(&s3, &sqs, "central").await;
    Env { s3, sqs, bucket, queue, dir: tempfile::tempdir().unwrap() }
}

impl Env {
    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    async fn put(&self, key: &str, body: Vec<u8>) {
        self.s3.put_object().bucket(&self.bucket).key(key).body(body.into()).send().await.unwrap();
    }

    async fn send(&self, body: String) {
        self.sqs.send_message().queue_url(&self.queue).message_body(body).send().await.unwrap();
    }

    fn s3_note(&self, key: &str) -> String {
        s3_note(&self.bucket, key)
    }

    fn service(&self) -> Command {
        let mut c = Command::cargo_bin("trailhouse").unwrap();
        c.args(["ingest", "--json", "--queue-url", &self.queue, "--endpoint-url", &endpoint(), "--lake"])
            .arg(self.lake())
            .env_remove("TRAILHOUSE_LAKE");
        c
    }

    fn once(&self) -> serde_json::Value {
        self.once_with(&[])
    }

    fn once_with(&self, args: &[&str]) -> serde_json::Value {
        let out = self.service().args(["--once", "--flush-secs", "1"]).args(args).output().unwrap();
        assert!(out.status.success(), "service failed:\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn sql(&self, q: &str) -> String {
        let out =
            Command::cargo_bin("trailhouse").unwrap().args(["sql", "--lake"]).arg(self.lake()).arg(q).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// (rows, distinct event ids) in the lake.
    fn counts(&self) -> (u64, u64) {
        let out = self.sql("SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        (v["n"].as_u64().unwrap(), v["ids"].as_u64().unwrap())
    }

    async fn queue_depth(&self) -> u64 {
        queue_depth(&self.sqs, &self.queue).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_shape_is_ingested_and_deleted() {
    let e = env().await;
    let files = dataset_files();
    for (k, raw, _) in &files[..6] {
        e.put(k, raw.clone()).await;
    }
    let (k0, k1, k2, k3, k4, k5) = (&files[0].0, &files[1].0, &files[2].0, &files[3].0, &files[4].0, &files[5].0);
    e.send(e.s3_note(k0)).await;
    e.send(serde_json::json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message": e.s3_note(k1)}).to_string()).await;
    e.send(serde_json::json!({"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":e.bucket},"object":{"key":k2,"size":1}}}).to_string()).await;
    let ct = serde_json::json!({"s3Bucket": e.bucket, "s3ObjectKey": [k3, k4]}).to_string();
    e.send(ct).await;
    e.send(serde_json::json!({"Type":"Notification","Message": serde_json::json!({"s3Bucket": e.bucket, "s3ObjectKey": [k5]}).to_string()}).to_string()).await;
    e.send(serde_json::json!({"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":e.bucket}).to_string()).await;
    // A digest file that is not gzip: checked, recorded as unreadable with its key, deleted.
    let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2023/07/10/d.json.gz";
    e.put(digest, b"not a digest".to_vec()).await;
    e.send(e.s3_note(digest)).await;
    let s = e.once();
    let want: u64 = files[..6].iter().map(|f| f.2).sum();
    assert_eq!(s["events"], want, "{s}");
    assert_eq!(s["files"], 6);
    assert_eq!((s["digests_checked"].as_u64(), s["digests_with_problems"].as_u64()), (Some(1), Some(1)), "{s}");
    assert_eq!(s["messages_deleted"], 7);
    let row = e.sql("SELECT digest, status, message FROM integrity");
    assert!(row.contains(digest) && row.contains("\"status\":\"unreadable\"") && row.contains("not gzip"), "{row}");
    assert_eq!(e.counts(), (want, want));
    assert_eq!(e.queue_depth().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_duplicate_notifications_add_nothing() {
    let e = env().await;
    let files = dataset_files();
    for (k, raw, _) in &files[..4] {
        e.put(k, raw.clone()).await;
        e.send(e.s3_note(k)).await;
    }
    // The same object announced twice in one window.
    e.send(e.s3_note(&files[0].0)).await;
    let want: u64 = files[..4].iter().map(|f| f.2).sum();
    assert_eq!(e.once()["events"], want);
    // A crash after commit and before delete redelivers: simulate with the same bodies.
    for (k, _, _) in &files[..4] {
        e.send(e.s3_note(k)).await;
    }
    let again = e.once();
    assert_eq!((again["events"].as_u64(), again["messages_deleted"].as_u64()), (Some(0), Some(4)));
    assert_eq!(e.counts(), (want, want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_gzip_is_quarantined_and_the_rest_ingested() {
    let e = env().await;
    let files = dataset_files();
    let (k, raw, n) = &files[7];
    e.put(k, raw.clone()).await;
    e.send(e.s3_note(k)).await;
    let bad = "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1200Z_truncatedxxxxxxx.json.gz";
    e.put(bad, raw[..raw.len() / 3].to_vec()).await;
    e.send(e.s3_note(bad)).await;
    let s = e.once();
    assert_eq!(
        (s["events"].as_u64(), s["files_quarantined"].as_u64(), s["messages_deleted"].as_u64()),
        (Some(*n), Some(1), Some(2))
    );
    assert!(e.lake().join("quarantine").join(bad).is_file());
    assert!(e.lake().join("quarantine").join(format!("{bad}.error.json")).is_file());
    assert_eq!(e.queue_depth().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dead_letter_queue() {
    let e = env().await;
    let dlq = e
        .sqs
        .create_queue()
        .queue_name(format!("dlq-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = e
        .sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let policy = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}).to_string();
    e.sqs
        .set_queue_attributes()
        .queue_url(&e.queue)
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .unwrap();
    e.send("this is not a notification".into()).await;
    let s = e.once_with(&["--visibility-secs", "1"]);
    assert_eq!((s["messages_unrecognised"].as_u64(), s["messages_deleted"].as_u64()), (Some(1), Some(0)));
    // After its visibility timeout the next receive moves it to the dead-letter queue.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = e
            .sqs
            .receive_message()
            .queue_url(&e.queue)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let got = e.sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send().await.unwrap();
        if let Some(m) = got.messages().first() {
            assert_eq!(m.body(), Some("this is not a notification"));
            break;
        }
        assert!(Instant::now() < deadline, "the poison message never reached the DLQ");
    }
}

/// A generated trail's log files, as (key, gzip bytes).
fn generated_files(logs: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![];
    let mut stack = vec![logs.to_path_buf()];
    while let Some(d) = stack.pop() {
        for x in std::fs::read_dir(&d).unwrap() {
            let p = x.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else if p.to_string_lossy().ends_with(".json.gz") {
                let key = p.strip_prefix(logs).unwrap().to_string_lossy().to_string();
                files.push((key, std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// One counter from a service's metrics endpoint (None while it is not listening).
fn metric(port: u16, name: &str) -> Option<u64> {
    let out = http_get(port, "/metrics")?;
    let line = out.lines().find(|l| l.starts_with(&format!("trailhouse_{name} ")))?;
    line.rsplit(' ').next()?.parse().ok()
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0: the whole response, status line included.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The port a service started with `--metrics-addr 127.0.0.1:0` listens on, read from its
/// log (a port picked by the test and released could be taken by another test's service).
fn metrics_port(log: &std::path::Path, child: &mut std::process::Child) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let port = text
            .lines()
            .filter(|l| l.contains("Metrics endpoint listening."))
            .find_map(|l| l.split("addr=127.0.0.1:").nth(1)?.split_whitespace().next()?.parse().ok());
        if let Some(port) = port {
            return port;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the service exited ({status}) before serving metrics:\n{text}");
        }
        assert!(Instant::now() < deadline, "no metrics address in the log after 120 s:\n{text}");
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// Three services on one queue and one lake while files arrive; one of them is SIGKILLed
/// twice while it holds messages (and restarted). Every event lands once, every object has
/// one ledger row, and no service fails a commit (a Delta conflict between ingesters is
/// retried, not lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ingesters_on_one_queue_one_killed_twice_land_every_event_once() {
    let e = env().await;
    let logs = e.dir.path().join("logs");
    let g = sample_logs::generate(&sample_logs::GenerateOptions {
        out: logs.clone(),
        events: 6_000,
        accounts: 2,
        days: 1,
        // Two hours: 288 files (a whole day would be 2,928, and uploading them one by one
        // to the local server takes most of two minutes).
        minutes: Some(120),
        seed: 17,
        ..Default::default()
    })
    .unwrap();
    let files = generated_files(&logs);
    let logs_dir = e.dir.path().join("service-logs");
    std::fs::create_dir_all(&logs_dir).unwrap();
    let start = |name: &str| {
        let log = logs_dir.join(format!("{name}.log"));
        let mut child = e
            .service()
            .args(["--flush-secs", "1", "--visibility-secs", "4", "--lanes", "1", "--stats-secs", "3600"])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let port = metrics_port(&log, &mut child);
        (child, port)
    };
    let logs_of = |name: &str| std::fs::read_to_string(logs_dir.join(format!("{name}.log"))).unwrap_or_default();
    let (a, b) = (start("a").0, start("b").0);
    let mut c = start("c1");

    // Files arrive in four rounds; after each of the first two, the third service is killed
    // as soon as it has received some of the round's messages, and a new one started.
    let rounds: Vec<_> = files.chunks(files.len().div_ceil(4)).collect();
    let mut kills = 0;
    for (i, round) in rounds.iter().enumerate() {
        for (k, raw) in round.iter() {
            e.put(k, raw.clone()).await;
            e.send(e.s3_note(k)).await;
        }
        if i < 2 {
            let deadline = Instant::now() + Duration::from_secs(120);
            while metric(c.1, "messages_received").unwrap_or(0) == 0 {
                assert!(
                    c.0.try_wait().unwrap().is_none(),
                    "a service exited by itself:\n{}",
                    logs_of(&format!("c{}", i + 1))
                );
                assert!(Instant::now() < deadline, "the third service received nothing in 120 s");
                std::thread::park_timeout(Duration::from_millis(5));
            }
            c.0.kill().unwrap();
            c.0.wait().unwrap();
            kills += 1;
            c = start(&format!("c{}", i + 2));
        }
    }
    assert_eq!(kills, 2);

    // Poll until every event is in and the queue is empty (the killed service's messages
    // reappear after their 4 s visibility timeout and another service takes them).
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if e.queue_depth().await == 0 && e.counts().0 >= g.events {
            break;
        }
        assert!(Instant::now() < deadline, "not drained in 300 s: {:?} of {} events", e.counts(), g.events);
        std::thread::park_timeout(Duration::from_millis(500));
    }
    for (name, child) in [("a", a), ("b", b), ("c3", c.0)] {
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let log = logs_of(name);
        assert!(out.status.success(), "{name} failed ({:?}):\n{log}", out.status);
        assert!(!log.contains("ERROR"), "{name} logged an error:\n{log}");
    }
    assert_eq!(e.counts(), (g.events, g.events));
    let ledger =
        e.sql("SELECT count(*) AS n, count(DISTINCT name) AS names FROM ingested_files WHERE status = 'ingested'");
    let ledger: serde_json::Value = serde_json::from_str(ledger.trim()).unwrap();
    assert_eq!((ledger["n"].as_u64(), ledger["names"].as_u64()), (Some(files.len() as u64), Some(files.len() as u64)));
}

/// kill -9 at random moments while files keep arriving, each kill after the killed process
/// has committed at least once (so kills land after commits as well as inside windows: the
/// precise moments are tests/it/crash.rs's); a final --once run must leave exactly the source
/// events, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let e = env().await;
    let logs = e.dir.path().join("logs");
    // Two hours of one account: ~140 files (a day of the same events is ~1,400 files, and
    // uploading them one by one was most of this test's two minutes).
    let g = sample_logs::generate(&sample_logs::GenerateOptions {
        out: logs.clone(),
        events: 3_000,
        accounts: 1,
        days: 1,
        minutes: Some(120),
        seed: 5,
        ..Default::default()
    })
    .unwrap();
    let files = generated_files(&logs);
    let mut rng = sample_logs::Rng::new(11);
    let rounds = 5;
    let per_round = files.len().div_ceil(rounds);
    // The ledger's newest version (commit files only: version 0 is the table's creation).
    let commits = || {
        let dir = std::fs::read_dir(e.lake().join("ingested_files/_delta_log"));
        dir.map_or(0, |d| {
            d.filter_map(|f| f.ok()?.file_name().to_str()?.strip_suffix(".json")?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
        })
    };
    let mut kills = 0;
    for chunk in files.chunks(per_round) {
        for (k, raw) in chunk {
            e.put(k, raw.clone()).await;
        }
        let keys: Vec<String> = chunk.iter().map(|(k, _)| k.clone()).collect();
        notify(&e.sqs, &e.queue, &e.bucket, &keys).await;
        let before = commits();
        let mut child = e
            .service()
            .args(["--flush-secs", "1", "--visibility-secs", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Its first commit, then a random while (up to two more flushes), then kill -9.
        let deadline = Instant::now() + Duration::from_secs(120);
        while commits() <= before {
            assert!(child.try_wait().unwrap().is_none(), "the service exited by itself");
            assert!(Instant::now() < deadline, "the service never committed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(2_000))).await;
        assert!(child.try_wait().unwrap().is_none(), "the service exited by itself");
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    assert_eq!(kills, rounds);
    // Messages a killed process held become visible after their timeout; drain them all.
    // The deadline only bounds a hang: the loop ends as soon as the queue is empty.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        e.once();
        if e.queue_depth().await == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the queue never drained");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(e.counts(), (g.events, g.events));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_s3_notifications_flow_into_the_lake() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let e = env().await;
    let arn = e
        .sqs
        .get_queue_attributes()
        .queue_url(&e.queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let conf = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder().queue_arn(arn).events(Event::S3ObjectCreated).build().unwrap(),
        )
        .build();
    e.s3.put_bucket_notification_configuration()
        .bucket(&e.bucket)
        .notification_configuration(conf)
        .send()
        .await
        .unwrap();
    let files = dataset_files();
    for (k, raw, _) in &files[10..15] {
        e.put(k, raw.clone()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.queue_depth().await < 5 {
        assert!(Instant::now() < deadline, "the server sent no notifications");
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let s = e.once();
    let want: u64 = files[10..15].iter().map(|f| f.2).sum();
    assert_eq!(s["events"], want, "{s}");
    assert_eq!(e.counts(), (want, want));
    assert_eq!(e.queue_depth().await, 0);
}

/// The long-running service: metrics over HTTP, then SIGTERM: flush, commit, delete, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_commits_deletes_and_exits_cleanly() {
    let e = env().await;
    let files = dataset_files();
    for (k, raw, _) in &files[20..26] {
        e.put(k, raw.clone()).await;
        e.send(e.s3_note(k)).await;
    }
    let log = e.dir.path().join("service.log");
    let mut child = e
        .service()
        .args(["--flush-secs", "3600", "--stats-secs", "1", "--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let port = metrics_port(&log, &mut child);
    let log_tail = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    // Poll the metrics endpoint until every message is received (not yet committed: the
    // flush interval is an hour). The deadline is generous: on a loaded CI machine the
    // service's start and moto's first receive are slow, and the wait costs nothing when
    // they are not.
    let want_files = 6;
    let deadline = Instant::now() + Duration::from_secs(240);
    while metric(port, "messages_received").unwrap_or(0) < 6 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the service exited early ({status}):\n{}", log_tail());
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed the 6 messages (received {:?}); the service's log ends:\n{}",
            metric(port, "messages_received"),
            log_tail()
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let get = |path: &str| http_get(port, path).unwrap_or_else(|| panic!("GET {path} failed"));
    let body = get("/metrics");
    assert!(body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("# TYPE trailhouse_events counter") && body.contains("trailhouse_queue_lag_messages"),
        "{body}"
    );
    let other = get("/admin");
    assert!(other.starts_with("HTTP/1.0 404") || other.starts_with("HTTP/1.1 404"), "{other}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}; the service's log ends:\n{}", out.status, log_tail());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: u64 = files[20..26].iter().map(|f| f.2).sum();
    assert_eq!(
        (s["events"].as_u64(), s["files"].as_u64(), s["messages_deleted"].as_u64()),
        (Some(want), Some(want_files), Some(6))
    );
    assert_eq!(e.counts(), (want, want));
    assert_eq!(e.queue_depth().await, 0);
}

/// No credential or session token appears in the logs at any level: the service, a
/// backfill from S3 and a lake on S3 run with trace logging and distinctive credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_logs_even_at_trace_level() {
    const KEY_ID: &str = "AKIAKEYIDTHATMUSTNOTLEAK";
    const SECRET: &str = "secretkeythatmustnotleak0123456789abcdef";
    const TOKEN: &str = "sessiontokenthatmustnotleakFwoGZXIvYXdzEJr";
    let e = env().await;
    let files = dataset_files();
    let (k, raw, _) = &files[0];
    e.put(k, raw.clone()).await;
    e.send(e.s3_note(k)).await;
    // Poison too, so the error paths log.
    e.send("not a notification".into()).await;
    let secret_env = |c: &mut Command| {
        c.env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("TRAILHOUSE_LOG", "trace")
            .env("NO_COLOR", "1");
    };
    let mut logs = String::new();
    let mut service = e.service();
    service.args(["--once", "--flush-secs", "1"]);
    secret_env(&mut service);
    let out = service.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    logs.push_str(&String::from_utf8_lossy(&out.stderr));

    let mut backfill = Command::cargo_bin("trailhouse").unwrap();
    backfill
        .args(["ingest", "--json", "--endpoint-url", &endpoint(), "--source", &format!("s3://{}/AWSLogs/", e.bucket)])
        .args(["--lake", &format!("s3://{}/lake", e.bucket)])
        .env_remove("TRAILHOUSE_LAKE");
    secret_env(&mut backfill);
    let out = backfill.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    logs.push_str(&String::from_utf8_lossy(&out.stderr));

    // The logs are there (the test would prove nothing on empty output) ...
    assert!(logs.contains("TRACE") && logs.len() > 10_000, "{} bytes of logs", logs.len());
    // ... and hold none of the secrets.
    for (what, s) in [("access key id", KEY_ID), ("secret key", SECRET), ("session token", TOKEN)] {
        if let Some(at) = logs.find(s) {
            let line_start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            panic!("the {what} leaked into the logs:\n{}", &logs[line_start..line_end.min(line_start + 2000)]);
        }
    }
}

/// Keys an attacker controls (`..`, absolute paths, odd bytes) are quarantined inside the
/// lake's quarantine prefix and nothing is written outside the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_keys_never_escape_the_quarantine_prefix() {
    let e = env().await;
    let files = dataset_files();
    let truncated = files[0].1[..files[0].1.len() / 2].to_vec();
    let tail = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261102T1000Z";
    let keys = [
        format!("../../../../{tail}_dotdot.json.gz"),
        format!("/abs/{tail}_absolute.json.gz"),
        format!("{tail}_odd\u{1}by tes\u{7f}é%2F..%2F.json.gz"),
    ];
    // Notifications URL-encode keys as S3 does (space as `+`).
    let encode = |k: &str| -> String {
        k.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    for k in &keys {
        e.put(k, truncated.clone()).await;
        e.send(e.s3_note(&encode(k))).await;
    }
    let s = e.once();
    assert_eq!(s["files_quarantined"].as_u64(), Some(keys.len() as u64), "{s}");
    // Inside the lake: one copy and one error file per key, all under quarantine/.
    let mut found = vec![];
    let mut stack = vec![e.lake().join("quarantine")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() { stack.push(p) } else { found.push(p) }
        }
    }
    assert_eq!(found.len(), 2 * keys.len(), "{found:?}");
    let root = e.lake().join("quarantine").canonicalize().unwrap();
    assert!(found.iter().all(|p| p.canonicalize().unwrap().starts_with(&root)), "{found:?}");
    // Outside the lake: the test's folder holds the lake and nothing else.
    let outside: Vec<_> = std::fs::read_dir(e.dir.path()).unwrap().map(|x| x.unwrap().file_name()).collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("lake")]);
    assert!(!Path::new("/abs").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_are_checked_as_they_arrive_late_files_too_and_each_tampering_raises_an_alert() {
    let e = env().await;
    let corpus = e.dir.path().join("corpus");
    let out = Command::cargo_bin("trailhouse")
        .unwrap()
        .args([
            "generate",
            "--tamper",
            "--bucket",
            &e.bucket,
            "--events",
            "2000",
            "--accounts",
            "1",
            "--minutes",
            "240",
        ])
        .arg("--out")
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let planted: Vec<(String, String)> = std::fs::read_to_string(corpus.join("planted.tsv"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f[3].starts_with("tamper-").then(|| (f[3].to_string(), f[4].to_string()))
        })
        .collect();
    let tampered = |what: &str| planted.iter().find(|(w, _)| w == what).unwrap().1.clone();
    let objects: Vec<String> = keys_under(&corpus).into_iter().filter(|k| k.ends_with(".json.gz")).collect();
    let digests = objects.iter().filter(|k| k.contains("/CloudTrail-Digest/")).count() as u64;
    // A log file its digest lists whose notification reaches the queue only after the
    // digest's: pending (it is in the bucket), then checked when it arrives.
    let late = objects.iter().find(|k| k.contains("/CloudTrail/us-east-1/") && k.contains("T02")).unwrap().clone();

    // The bucket as CloudTrail fills it (signatures in the digests' metadata), announced by
    // S3 notifications of 25 objects each.
    let announce = |keys: &[String]| {
        let records: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                serde_json::json!({"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
                "s3":{"bucket":{"name":e.bucket},"object":{"key":k}}})
            })
            .collect();
        serde_json::json!({ "Records": records }).to_string()
    };
    upload_trail(&e.s3, &e.bucket, &corpus).await;
    let first: Vec<String> = objects.iter().filter(|k| **k != late).cloned().collect();
    for chunk in first.chunks(25) {
        e.send(announce(chunk)).await;
    }
    let keys = corpus.join("public-keys.json");
    // No grace: a listed file absent from the bucket is recorded missing at once.
    let checks = ["--public-keys", keys.to_str().unwrap(), "--missing-after", "0s"];
    let s = e.once_with(&checks);
    assert_eq!(s["digests_checked"].as_u64(), Some(digests), "{s}");
    // The edited file, the deleted one, and the digest after the deleted digest.
    let problems = e.sql("SELECT digest, status, chain, gap_hours, logs_altered, logs_missing, logs_pending FROM integrity WHERE status <> 'valid' OR chain NOT IN ('linked', 'first') OR gap_hours > 0 OR logs_altered + logs_missing > 0");
    assert_eq!(s["digests_with_problems"].as_u64(), Some(3), "{s}\n{problems}");
    // A file's ledger rows, by status (one commit can hold both its ingestion and its check).
    let status_of = |name: &str| -> Vec<String> {
        e.sql(&format!("SELECT status FROM ingested_files WHERE name = '{name}' ORDER BY status"))
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(status_of(&tampered("tamper-log-altered")), ["altered", "ingested"]);
    assert_eq!(status_of(&tampered("tamper-log-deleted")), ["missing"]);
    assert_eq!(status_of(&late), ["pending"]);
    let chain = e.sql("SELECT chain, gap_hours FROM integrity WHERE chain <> 'linked' AND chain <> 'first'");
    assert_eq!(chain.trim(), r#"{"chain":"previous_missing","gap_hours":1}"#);

    // The late file's notification arrives: checked against the digest that listed it.
    e.send(announce(std::slice::from_ref(&late))).await;
    let s = e.once_with(&checks);
    assert_eq!((s["files"].as_u64(), s["digests_checked"].as_u64()), (Some(1), Some(0)), "{s}");
    assert_eq!(status_of(&late), ["ingested", "pending", "valid"]);

    // The built-in rule raises each: the altered file, the deleted one, the broken chain.
    let out = Command::cargo_bin("trailhouse")
        .unwrap()
        .args(["detect", "--format", "ndjson", "--rule", "log-file-integrity-violation", "--lake"])
        .arg(e.lake())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let keys_alerted: Vec<String> = alerts.iter().map(|a| a["dedup_key"].to_string()).collect();
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    for key in [tampered("tamper-log-altered"), tampered("tamper-log-deleted")] {
        assert!(keys_alerted.iter().any(|k| k.contains(&format!("log:{key}"))), "{key}: {keys_alerted:?}");
    }
    assert!(keys_alerted.iter().any(|k| k.contains("digest:")), "{keys_alerted:?}");
}

impl Env {
    /// Uploads `keys` of the trail folder `corpus` as CloudTrail leaves them (a digest's
    /// signature in its metadata) and announces them in S3 notifications of 25 objects.
    async fn deliver(&self, corpus: &Path, keys: &[String]) {
        for key in keys {
            let body = std::fs::read(corpus.join(key)).unwrap();
            let mut put = self.s3.put_object().bucket(&self.bucket).key(key).body(body.into());
            if key.contains("/CloudTrail-Digest/") {
                let sig = std::fs::read_to_string(corpus.join(format!("{key}.signature"))).unwrap();
                put = put.metadata("signature", sig).metadata("signature-algorithm", "SHA256withRSA");
            }
            put.send().await.unwrap();
        }
        for chunk in keys.chunks(25) {
            let records: Vec<serde_json::Value> = chunk
                .iter()
                .map(|k| {
                    serde_json::json!({"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
                    "s3":{"bucket":{"name":self.bucket},"object":{"key":k}}})
                })
                .collect();
            self.send(serde_json::json!({ "Records": records }).to_string()).await;
        }
    }

    /// Ledger rows per integrity verdict: (valid, pending, missing, altered).
    fn verdicts(&self) -> (u64, u64, u64, u64) {
        let v: serde_json::Value = serde_json::from_str(
            self.sql(
                "SELECT sum(CASE WHEN status = 'valid' THEN 1 ELSE 0 END) AS valid, \
                        sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, \
                        sum(CASE WHEN status = 'missing' THEN 1 ELSE 0 END) AS missing, \
                        sum(CASE WHEN status = 'altered' THEN 1 ELSE 0 END) AS altered FROM ingested_files",
            )
            .trim(),
        )
        .unwrap();
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        (n("valid"), n("pending"), n("missing"), n("altered"))
    }

    /// Log files the checked digests list, all together.
    fn listed(&self) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(self.sql("SELECT sum(logs_listed) AS n FROM integrity").trim()).unwrap();
        v["n"].as_u64().unwrap()
    }

    /// `detect --rule log-file-integrity-violation`: (exit code, alerts).
    fn integrity_alerts(&self) -> (Option<i32>, Vec<serde_json::Value>) {
        let out = Command::cargo_bin("trailhouse")
            .unwrap()
            .args(["detect", "--format", "ndjson", "--rule", "log-file-integrity-violation", "--lake"])
            .arg(self.lake())
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", String::from_utf8_lossy(&out.stderr));
        let alerts = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        (out.status.code(), alerts)
    }
}

/// A signed two-hour trail of one account for `e`'s bucket: (folder, digest keys, log keys).
fn small_signed_trail(e: &Env, seed: &str) -> (PathBuf, Vec<String>, Vec<String>) {
    let corpus = e.dir.path().join("corpus");
    let out = Command::cargo_bin("trailhouse")
        .unwrap()
        .args(["generate", "--digests", "--bucket", &e.bucket, "--events", "600", "--accounts", "1"])
        .args(["--minutes", "115", "--seed", seed, "--out"])
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (digests, logs): (Vec<String>, Vec<String>) = keys_under(&corpus)
        .into_iter()
        .filter(|k| k.ends_with(".json.gz"))
        .partition(|k| k.contains("/CloudTrail-Digest/"));
    (corpus, digests, logs)
}

/// Digests delivered before, between and after the log files they list (`aws s3 sync`
/// uploads `CloudTrail-Digest/` before `CloudTrail/`): no file is recorded missing while
/// it is on its way, each turns valid when it lands, and no alert is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_that_arrive_before_their_logs_converge_to_valid_without_alerts() {
    let e = env().await;
    let (corpus, digests, logs) = small_signed_trail(&e, "31");
    let keys = corpus.join("public-keys.json");
    let checks = ["--public-keys", keys.to_str().unwrap()];
    // A third of the logs first, then the digests, then the rest.
    let (before, after) = logs.split_at(logs.len() / 3);
    e.deliver(&corpus, before).await;
    e.once_with(&checks);
    e.deliver(&corpus, &digests).await;
    let s = e.once_with(&checks);
    assert_eq!(s["digests_checked"].as_u64(), Some(digests.len() as u64), "{s}");
    assert_eq!(s["digests_with_problems"].as_u64(), Some(0), "{s}");
    let listed = e.listed();
    let (valid, pending, missing, altered) = e.verdicts();
    assert!(pending > 0 && valid + pending == listed && (missing, altered) == (0, 0), "{:?}", e.verdicts());
    e.deliver(&corpus, after).await;
    let s = e.once_with(&checks);
    assert_eq!(s["files"].as_u64(), Some(after.len() as u64), "{s}");
    // Each late file: its pending row, then its valid one.
    assert_eq!(e.verdicts(), (listed, pending, 0, 0), "after");
    let (code, alerts) = e.integrity_alerts();
    assert_eq!((code, alerts.len()), (Some(0), 0), "{alerts:#?}");
}

/// With no grace (`--missing-after 0s`), digests ahead of their logs record the logs
/// missing and the rule alerts on each; when the logs land with the listed hashes, the
/// verdicts turn valid, the rule raises nothing new, and each alert is closed with a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_recorded_missing_that_lands_later_turns_valid_and_its_alert_is_closed() {
    let e = env().await;
    let (corpus, digests, logs) = small_signed_trail(&e, "32");
    let keys = corpus.join("public-keys.json");
    let checks = ["--public-keys", keys.to_str().unwrap(), "--missing-after", "0s"];
    e.deliver(&corpus, &digests).await;
    e.once_with(&checks);
    let listed = e.listed();
    assert_eq!(e.verdicts(), (0, 0, listed, 0));
    let (code, alerts) = e.integrity_alerts();
    let about_logs = alerts.iter().filter(|a| a["dedup_key"].to_string().contains("log:")).count() as u64;
    assert_eq!((code, about_logs), (Some(3), listed), "{alerts:#?}");

    e.deliver(&corpus, &logs).await;
    let s = e.once_with(&checks);
    assert_eq!(s["files"].as_u64(), Some(logs.len() as u64), "{s}");
    assert_eq!(e.verdicts(), (listed, 0, listed, 0));
    let (code, alerts) = e.integrity_alerts();
    assert_eq!((code, alerts.len()), (Some(0), 0), "{alerts:#?}");
    let closed: serde_json::Value = serde_json::from_str(
        e.sql(
            "SELECT count(DISTINCT t.alert_id) AS n FROM alert_triage t JOIN alerts a ON a.alert_id = t.alert_id \
             WHERE t.state = 'closed' AND t.note LIKE 'resolved automatically: the log file arrived later%' \
             AND a.rule_id = 'log-file-integrity-violation'",
        )
        .trim(),
    )
    .unwrap();
    assert_eq!(closed["n"].as_u64(), Some(listed), "{closed}");
}
