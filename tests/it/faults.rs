//! Failing dependencies: a fault-injecting HTTP proxy between the real SDK clients and the
//! local S3/SQS server answers a share of requests with 500, 503 SlowDown, a reset
//! connection or a slow trickle. Backfill and the SQS service must still count exactly; a
//! lake that refuses writes must leave every message on the queue and fail loudly.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use test_support::{dataset_files, endpoint, gz_json, log_files, run_ok};

use crate::local_aws::{bucket_and_queue, clients, new_bucket, notify, queue_depth};

const DATASET_EVENTS: u64 = 2_900 + 21;
const DATASET_FILES: u64 = 55 + 2;

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    faults: AtomicU64,
    denied_writes: AtomicU64,
    log_writes: AtomicU64,
    /// Delta log writes answered 503, applied with their answer dropped, applied and held,
    /// held and dropped.
    log_faults: [AtomicU64; 4],
    /// Which kind the next log write fault is, in turn.
    log_fault_turn: AtomicU64,
    /// Log objects whose write has been failed once: their retries pass.
    log_faulted: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Held log writes whose writer hung up (timed out) while waiting.
    log_timeouts: AtomicU64,
    /// A [`Hold`]: set once its write is held, notified to let it go.
    held_once: std::sync::atomic::AtomicBool,
    held: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

/// Hold one commit: the first write of a version of `table`'s Delta log waits for the
/// test's word.
#[derive(Debug, Clone, Copy)]
struct Hold {
    table: &'static str,
    /// The write reaches the server before it is held, and its answer is then dropped (a
    /// commit that landed, its writer never told); or it reaches the server only when let
    /// go, and its answer is relayed (a commit made late).
    applied_first: bool,
}

#[derive(Debug, Clone, Copy)]
struct Faults {
    /// Share of requests that fail (split evenly over reset, 500, 503 SlowDown, slow).
    rate: f64,
    /// Answer every PUT/POST that writes an object with 403 AccessDenied.
    deny_object_writes: bool,
    /// Answer every request with 403 and this S3 error code (`AccessDenied`,
    /// `InvalidAccessKeyId`).
    refuse_all: Option<&'static str>,
    /// Fail every other write under a `_delta_log/` (a table's commits, checkpoints), each
    /// object at most once, in turn: 503 SlowDown before the write; the write applied and
    /// the connection dropped without an answer (what a conditional PUT that got through
    /// looks like to its writer: its retry finds the version taken, as if it had lost a
    /// race); the write applied and its answer held until the writer times out
    /// ([`LOG_WRITE_TIMEOUT`]: object_store does not retry it, the lake's commit reads the
    /// log to learn whether it landed); held until the writer times out, never applied.
    log_writes: bool,
    hold: Option<Hold>,
}

/// The lake's request timeout in the log-write test (object_store reads `AWS_TIMEOUT`).
const LOG_WRITE_TIMEOUT: &str = "3s";

impl Faults {
    const NONE: Faults =
        Faults { rate: 0.0, deny_object_writes: false, refuse_all: None, log_writes: false, hold: None };
}

/// The proxy: one request per client connection (it answers with `Connection: close`),
/// forwarded to `upstream` unless a fault is drawn.
async fn start_proxy(upstream: SocketAddr, faults: Faults, seed: u64) -> (String, Arc<Stats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stats = Arc::new(Stats::default());
    let rng = Arc::new(AtomicU64::new(seed));
    let s = stats.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let (stats, rng) = (s.clone(), rng.clone());
            tokio::spawn(async move {
                let _ = serve(client, upstream, faults, &stats, &rng).await;
            });
        }
    });
    (url, stats)
}

/// A uniform draw in [0, 1) from a shared splitmix64 stream.
fn draw(state: &AtomicU64) -> f64 {
    let mut z = state.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
}

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    faults: Faults,
    stats: &Stats,
    rng: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut request_line = String::new();
    let mut is_sqs = false;
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).to_string();
        let lower = text.to_ascii_lowercase();
        if request_line.is_empty() {
            request_line = text.clone();
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        is_sqs |= lower.starts_with("x-amz-target:") || lower.contains("application/x-amz-json");
        if text == "\r\n" {
            break;
        }
        // Each forwarded request closes its connection, so the client reconnects.
        if lower.starts_with("connection:") {
            continue;
        }
        head.extend_from_slice(&line);
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).await?;
    let mut client = reader.into_inner();
    stats.requests.fetch_add(1, Ordering::Relaxed);

    if let Some(code) = faults.refuse_all {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>refused</Message><RequestId>0</RequestId></Error>"
        );
        return respond(&mut client, 403, "application/xml", &xml).await;
    }
    let is_write = request_line.starts_with("PUT ") || (request_line.starts_with("POST ") && !is_sqs);
    if faults.deny_object_writes && is_write {
        stats.denied_writes.fetch_add(1, Ordering::Relaxed);
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        return respond(&mut client, 403, "application/xml", xml).await;
    }
    let object = request_line.split(' ').nth(1).unwrap_or_default().to_string();
    if let Some(hold) = faults.hold
        && is_write
        && is_commit_of(&object, hold.table)
        && !stats.held_once.swap(true, Ordering::SeqCst)
    {
        if hold.applied_first {
            drop(forward(upstream, &head, &body).await?);
        }
        stats.held.notify_one();
        stats.release.notified().await;
        if hold.applied_first {
            return Ok(());
        }
        let response = forward(upstream, &head, &body).await?;
        client.write_all(&response).await?;
        return client.shutdown().await;
    }
    if is_write && faults.log_writes && object.contains("/_delta_log/") {
        let n = stats.log_writes.fetch_add(1, Ordering::Relaxed);
        // Every other log write fails, each object at most once: the retry of a failed one
        // goes through.
        if n.is_multiple_of(2) && stats.log_faulted.lock().unwrap().insert(object) {
            let kind = (stats.log_fault_turn.fetch_add(1, Ordering::Relaxed) % 4) as usize;
            stats.log_faults[kind].fetch_add(1, Ordering::Relaxed);
            if kind == 0 {
                let xml = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                return respond(&mut client, 503, "application/xml", xml).await;
            }
            if kind != 3 {
                // Applied upstream; the client never hears of it.
                drop(forward(upstream, &head, &body).await?);
            }
            if kind != 1 {
                // Held until the writer gives up: its side of the connection ends.
                let mut byte = [0u8; 1];
                if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_secs(30), client.read(&mut byte)).await {
                    stats.log_timeouts.fetch_add(1, Ordering::Relaxed);
                }
            }
            return Ok(());
        }
    }
    let d = draw(rng);
    let slice = faults.rate / 4.0;
    let fault = if d < faults.rate { Some((d / slice) as u32) } else { None };
    if fault.is_some() {
        stats.faults.fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        // The connection drops before any answer.
        Some(0) => return Ok(()),
        Some(1) if is_sqs => {
            return respond(
                &mut client,
                500,
                "application/x-amz-json-1.0",
                r#"{"__type":"InternalFailure","message":"injected"}"#,
            )
            .await;
        }
        Some(1) => {
            return respond(
                &mut client,
                500,
                "application/xml",
                "<Error><Code>InternalError</Code><Message>injected</Message></Error>",
            )
            .await;
        }
        Some(2) if is_sqs => {
            return respond(
                &mut client,
                503,
                "application/x-amz-json-1.0",
                r#"{"__type":"ServiceUnavailable","message":"injected"}"#,
            )
            .await;
        }
        Some(2) => {
            return respond(
                &mut client,
                503,
                "application/xml",
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            )
            .await;
        }
        _ => {}
    }
    let response = forward(upstream, &head, &body).await?;
    if fault == Some(3) {
        // Slow: the answer trickles out in pieces.
        let mut tick = tokio::time::interval(Duration::from_millis(150));
        for piece in response.chunks(response.len().div_ceil(4).max(1)) {
            tick.tick().await;
            client.write_all(piece).await?;
        }
    } else {
        client.write_all(&response).await?;
    }
    client.shutdown().await
}

/// Whether a request's object (`/bucket/.../table/_delta_log/00000000000000000003.json`)
/// is a commit of `table`.
fn is_commit_of(object: &str, table: &str) -> bool {
    let Some((dir, file)) = object.rsplit_once('/') else { return false };
    dir.ends_with(&format!("/{table}/_delta_log"))
        && file.strip_suffix(".json").is_some_and(|v| v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()))
}

/// Sends one request upstream and returns its whole answer.
async fn forward(upstream: SocketAddr, head: &[u8], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(head).await?;
    up.write_all(b"Connection: close\r\n\r\n").await?;
    up.write_all(body).await?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await?;
    Ok(response)
}

async fn respond(client: &mut TcpStream, status: u16, content_type: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} Injected\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await?;
    client.write_all(body.as_bytes()).await?;
    client.shutdown().await
}

fn upstream() -> SocketAddr {
    endpoint().trim_start_matches("http://").trim_end_matches('/').parse().unwrap()
}

/// Uploads the shared datasets (directly, not through the proxy) into `bucket` (which
/// exists); returns their keys.
async fn upload_datasets(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut keys = vec![];
    for (key, raw, _) in dataset_files() {
        s3.put_object().bucket(bucket).key(&key).body(raw.into()).send().await.unwrap();
        keys.push(key);
    }
    keys
}

/// Runs a command off the async runtime (the proxy lives on it) and returns its output.
async fn output(mut c: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
}

fn trailhouse(proxy: &str) -> Command {
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    c.env_remove("TRAILHOUSE_LAKE").args(["--verbose"]).env("TRAILHOUSE_ENDPOINT_URL", proxy);
    c
}

fn lake_counts(lake: &Path) -> (u64, u64) {
    let out = Command::cargo_bin("trailhouse")
        .unwrap()
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake)
        .arg("SELECT count(*), count(DISTINCT eventid) FROM cloudtrail")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<u64> = text.lines().nth(1).unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    (row[0], row[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_from_s3_under_20_percent_faults_counts_exactly() {
    let (s3, _) = clients().await;
    let bucket = new_bucket(&s3, "faults").await;
    let keys = upload_datasets(&s3, &bucket).await;
    assert_eq!(keys.len() as u64, DATASET_FILES);
    let (proxy, stats) = start_proxy(upstream(), Faults { rate: 0.2, ..Faults::NONE }, 42).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut c = trailhouse(&proxy);
    c.args(["ingest", "--json", "--source", &format!("s3://{bucket}/AWSLogs/"), "--lake"]).arg(&lake);
    let out = output(c).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["events"].as_u64(), s["files"].as_u64(), s["files_quarantined"].as_u64()),
        (Some(DATASET_EVENTS), Some(DATASET_FILES), Some(0)),
        "{s}"
    );
    assert_eq!(lake_counts(&lake), (DATASET_EVENTS, DATASET_EVENTS));
    let (requests, faults) = (stats.requests.load(Ordering::Relaxed), stats.faults.load(Ordering::Relaxed));
    assert!(faults >= 5 && faults * 10 >= requests, "{faults} faults in {requests} requests: the test did not test");
}

async fn queue_with_notifications(s3: &aws_sdk_s3::Client, sqs: &aws_sdk_sqs::Client) -> (String, Vec<String>) {
    let (bucket, queue) = bucket_and_queue(s3, sqs, "faults").await;
    let keys = upload_datasets(s3, &bucket).await;
    notify(sqs, &queue, &bucket, &keys).await;
    (queue, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_ingest_under_20_percent_faults_counts_exactly() {
    let (s3, sqs) = clients().await;
    let (queue, keys) = queue_with_notifications(&s3, &sqs).await;
    let (proxy, stats) = start_proxy(upstream(), Faults { rate: 0.2, ..Faults::NONE }, 7).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut c = trailhouse(&proxy);
    c.args(["ingest", "--json", "--once", "--flush-secs", "2", "--queue-url", &queue, "--lake"]).arg(&lake);
    let out = output(c).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["files"].as_u64(), Some(keys.len() as u64), "{s}");
    assert_eq!(lake_counts(&lake), (DATASET_EVENTS, DATASET_EVENTS));
    assert_eq!(queue_depth(&sqs, &queue).await, 0, "every message deleted after its commit");
    assert!(stats.faults.load(Ordering::Relaxed) >= 5, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_that_refuses_writes_keeps_every_message_and_fails_loudly() {
    let (s3, sqs) = clients().await;
    let (queue, keys) = queue_with_notifications(&s3, &sqs).await;
    // The lake is on S3 behind a proxy that denies object writes (a bucket policy gone
    // wrong); reads and SQS pass.
    let lake_bucket = new_bucket(&s3, "lake").await;
    // The lake exists (created directly, not through the proxy): only the commit fails.
    let empty = tempfile::tempdir().unwrap();
    let created = Command::cargo_bin("trailhouse")
        .unwrap()
        .args([
            "ingest",
            "--json",
            "--endpoint-url",
            &endpoint(),
            "--lake",
            &format!("s3://{lake_bucket}/lake"),
            "--allow-empty",
            "--source",
        ])
        .arg(empty.path())
        .env_remove("TRAILHOUSE_LAKE")
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let (proxy, stats) = start_proxy(upstream(), Faults { deny_object_writes: true, ..Faults::NONE }, 1).await;
    let mut c = trailhouse(&proxy);
    c.args([
        "ingest",
        "--json",
        "--once",
        "--flush-secs",
        "1",
        "--queue-url",
        &queue,
        "--lake",
        &format!("s3://{lake_bucket}/lake"),
    ]);
    let out = output(c).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run must fail:\n{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:") && (last.contains("lake") || last.contains("denied") || last.contains("Access")),
        "{err}"
    );
    assert!(stats.denied_writes.load(Ordering::Relaxed) > 0);
    // Nothing was committed, so nothing was deleted.
    assert_eq!(queue_depth(&sqs, &queue).await, keys.len() as u64);
}

/// The one error line a failed command ends with: it must name the resource, say what to
/// check and point at the page that helps (the README or docs/), in a line a person reads
/// (not the SDK's 1.5 KB dump).
fn one_clear_line(out: &std::process::Output, wants: &[&str]) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{err}");
    for w in wants {
        assert!(last.contains(w), "{w:?} missing from: {last}");
    }
    assert!(last.len() < 400, "{} characters: {last}", last.len());
    for raw in ["ServiceError", "raw: Response", "DispatchFailure", "headers"] {
        assert!(!last.contains(raw), "the SDK's dump leaked: {last}");
    }
    last
}

/// What a user meets when AWS says no, each as one clear line (the lake, the export target
/// and the source each in a bucket that does not exist), and none makes a lake folder:
/// no such bucket, access denied, an unknown access key, no credentials at all, no such
/// queue (with `--once`: at once), an endpoint nothing answers on (bounded by
/// `--reach-timeout-secs`), and a metrics port already taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_refusals_and_unreachable_services_fail_fast_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let backfill = |endpoint: &str, source: &str| {
        let mut c = Command::cargo_bin("trailhouse").unwrap();
        c.env_remove("TRAILHOUSE_LAKE")
            .args(["ingest", "--endpoint-url", endpoint, "--source", source, "--lake"])
            .arg(&lake);
        c
    };
    let out = output(backfill(&endpoint(), "s3://no-such-bucket-for-trailhouse/AWSLogs/")).await;
    one_clear_line(&out, &["s3://no-such-bucket-for-trailhouse/AWSLogs/", "no such bucket", "README"]);
    // The same for a lake, and an export, in a bucket that does not exist.
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    c.env_remove("TRAILHOUSE_LAKE").args([
        "sql",
        "--endpoint-url",
        &endpoint(),
        "--lake",
        "s3://no-such-bucket-for-trailhouse/lake",
        "SELECT 1",
    ]);
    one_clear_line(&output(c).await, &["s3://no-such-bucket-for-trailhouse/lake", "no such bucket"]);
    let local = tempfile::tempdir().unwrap();
    let logs = local.path().join("logs");
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    c.args(["generate", "--events", "100", "--accounts", "1", "--out"]).arg(&logs);
    let generated = output(c).await;
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let small = local.path().join("lake");
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    c.env_remove("TRAILHOUSE_LAKE").arg("ingest").arg("--source").arg(&logs).arg("--lake").arg(&small);
    let ingested = output(c).await;
    assert!(ingested.status.success(), "{}", String::from_utf8_lossy(&ingested.stderr));
    let mut c = Command::cargo_bin("trailhouse").unwrap();
    c.env_remove("TRAILHOUSE_LAKE")
        .args(["export", "--endpoint-url", &endpoint(), "--to", "s3://no-such-bucket-for-trailhouse/bi", "--lake"])
        .arg(&small);
    one_clear_line(&output(c).await, &["s3://no-such-bucket-for-trailhouse/bi", "no such bucket"]);

    // Each names the page that helps: the IAM policies, or the README's configuration.
    for (code, says, page) in [
        ("AccessDenied", "access denied", "docs/iam.md"),
        ("InvalidAccessKeyId", "rejected the credentials", "README: Configuration"),
    ] {
        let faults = Faults { refuse_all: Some(code), ..Faults::NONE };
        let (proxy, _) = start_proxy(upstream(), faults, 3).await;
        let out = output(backfill(&proxy, "s3://trail-bucket/AWSLogs/")).await;
        one_clear_line(&out, &["s3://trail-bucket/AWSLogs/", code, says, page]);
    }

    let home = tempfile::tempdir().unwrap();
    let mut c = backfill(&endpoint(), "s3://trail-bucket/AWSLogs/");
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
        c.env_remove(var);
    }
    c.env("HOME", home.path()).env("AWS_EC2_METADATA_DISABLED", "true");
    let out = output(c).await;
    one_clear_line(&out, &["no AWS credentials", "AWS_PROFILE", "README"]);

    let queue = format!("{}/000000000000/no-such-queue", endpoint());
    // Each bounded: a run still going after two minutes is killed and fails the test.
    let service = |endpoint: &str, queue: &str, extra: &[&str]| {
        let mut c = assert_cmd::Command::cargo_bin("trailhouse").unwrap();
        c.env_remove("TRAILHOUSE_LAKE")
            .args(["ingest", "--once", "--endpoint-url", endpoint, "--queue-url", queue])
            .args(extra)
            .arg("--lake")
            .arg(&lake)
            .timeout(Duration::from_secs(120));
        async move { tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap() }
    };
    let out = service(&endpoint(), &queue, &[]).await;
    one_clear_line(&out, &["no-such-queue", "no such queue", "--queue-url"]);

    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = service(&format!("http://{closed}"), &queue, &["--reach-timeout-secs", "3"]).await;
    one_clear_line(&out, &["cannot reach AWS", "--endpoint-url"]);

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = service(&endpoint(), &queue, &["--metrics-addr", &addr]).await;
    one_clear_line(&out, &["cannot serve metrics on", &addr, "--metrics-addr"]);

    assert!(!lake.exists(), "a command that failed before reading anything made a lake folder");
}

/// Three ingesters on one queue and repeated compactions, all against one `s3://` lake on
/// the local server, with every other Delta log write failing (503 before the write; the
/// write applied and its connection dropped; the write applied, or not, and its writer
/// left to time out): every event lands once,
/// each log file has one ledger row, both tables read, and every message is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ingesters_and_compactions_on_one_s3_lake_under_log_write_faults_land_every_event_once() {
    let (s3, sqs) = clients().await;
    let (queue, keys) = queue_with_notifications(&s3, &sqs).await;
    let lake_bucket = new_bucket(&s3, "lake").await;
    let lake = format!("s3://{lake_bucket}/lake");
    let (proxy, stats) = start_proxy(upstream(), Faults { log_writes: true, ..Faults::NONE }, 99).await;
    let logs = tempfile::tempdir().unwrap();
    let services: Vec<std::process::Child> = (0..3)
        .map(|i| {
            let log = std::fs::File::create(logs.path().join(format!("ingester-{i}.log"))).unwrap();
            trailhouse(&proxy)
                .env("AWS_TIMEOUT", LOG_WRITE_TIMEOUT)
                .args(["ingest", "--queue-url", &queue, "--lake", &lake, "--lanes", "1", "--flush-secs", "1"])
                .args(["--visibility-secs", "20", "--stats-secs", "3600", "--metrics-addr", "127.0.0.1:0"])
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap()
        })
        .collect();
    let logs_of = |logs: &Path| {
        (0..3)
            .map(|i| std::fs::read_to_string(logs.join(format!("ingester-{i}.log"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    // Compactions while the queue drains. The first usually starts before any ingester has
    // created the tables and fails, saying so; one at least must go through.
    let (mut compactions, mut compacted) = (0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        let mut c = trailhouse(&proxy);
        c.env("AWS_TIMEOUT", LOG_WRITE_TIMEOUT).args(["compact", "--lake", &lake]);
        compactions += 1;
        let out = output(c).await;
        if out.status.success() {
            compacted += 1;
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            eprintln!("a compaction failed: {}", err.lines().last().unwrap_or_default());
        }
        if queue_depth(&sqs, &queue).await == 0 && compacted > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the queue never drained:\n{}", logs_of(logs.path()));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for mut child in services {
        assert!(child.try_wait().unwrap().is_none(), "an ingester died:\n{}", logs_of(logs.path()));
        let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(term.success());
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
        assert!(status.success(), "an ingester failed to stop cleanly: {status}\n{}", logs_of(logs.path()));
    }
    let faults: Vec<u64> = stats.log_faults.iter().map(|n| n.load(Ordering::Relaxed)).collect();
    assert!(faults.iter().all(|n| *n > 0), "not every kind of fault was injected: {faults:?}");
    let timeouts = stats.log_timeouts.load(Ordering::Relaxed);
    assert!(timeouts > 0, "no writer timed out on a held log write ({faults:?})");

    // Read directly, not through the proxy.
    let sql = |q: &str| {
        let mut c = Command::cargo_bin("trailhouse").unwrap();
        c.env_remove("TRAILHOUSE_LAKE").args(["sql", "--endpoint-url", &endpoint(), "--lake", &lake, q]);
        c
    };
    let row = |out: std::process::Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let events = row(output(sql("SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail")).await);
    assert_eq!((events["n"].as_u64(), events["ids"].as_u64()), (Some(DATASET_EVENTS), Some(DATASET_EVENTS)));
    let ledger = row(output(sql(
        "SELECT count(*) AS n, count(DISTINCT name) AS names FROM ingested_files WHERE status = 'ingested'",
    ))
    .await);
    assert_eq!(
        (ledger["n"].as_u64(), ledger["names"].as_u64()),
        (Some(keys.len() as u64), Some(keys.len() as u64)),
        "{ledger}"
    );
    eprintln!(
        "{compacted} of {compactions} compactions went through; log write faults {faults:?}, {timeouts} timed out"
    );
}

/// Runs `hold` against one commit of a backfill into an `s3://` lake while a compaction
/// commits, then lets it go; the lake must hold every event once and one ledger row per
/// log file. The trail is split in two halves sharing their partitions (account, region,
/// day): the first is ingested before, so the compaction merges the second's files with
/// the first's.
async fn commit_held_while_a_compaction_commits(hold: Hold) {
    let (s3, _) = clients().await;
    let lake = format!("s3://{}/lake", new_bucket(&s3, "held").await);
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all");
    run_ok(
        test_support::trailhouse()
            .args(["generate", "--events", "1200", "--accounts", "1", "--start", "2026-11-03"])
            .args(["--minutes", "115", "--seed", "11", "--out"])
            .arg(&all),
    );
    let halves = [dir.path().join("first"), dir.path().join("second")];
    let mut files = log_files(&all);
    files.sort();
    let mut ids = std::collections::HashSet::new();
    for (i, file) in files.iter().enumerate() {
        for r in gz_json(file)["Records"].as_array().unwrap() {
            assert!(ids.insert(r["eventID"].as_str().unwrap().to_string()));
        }
        let to = halves[i % 2].join(file.strip_prefix(&all).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(file, to).unwrap();
    }
    let direct = || {
        let mut c = test_support::trailhouse();
        c.env("TRAILHOUSE_ENDPOINT_URL", endpoint());
        c
    };
    // Before anything is ingested there is nothing to compact, and it says so.
    let early = direct().args(["compact", "--lake", &lake]).output().unwrap();
    let said = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success() && said.contains("nothing to compact"), "{said}");
    run_ok(direct().args(["ingest", "--source"]).arg(&halves[0]).args(["--lake", &lake]));

    let (proxy, stats) = start_proxy(upstream(), Faults { hold: Some(hold), ..Faults::NONE }, 1).await;
    // The held writer must not time out while held: a write it gave up on that lands later
    // is the log-write test's business.
    let held = trailhouse(&proxy)
        .env("AWS_TIMEOUT", "300s")
        .args(["ingest", "--source"])
        .arg(&halves[1])
        .args(["--lake", &lake])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(180), stats.held.notified()).await;
    if waited.is_err() {
        let out = tokio::task::spawn_blocking(move || held.wait_with_output().unwrap()).await.unwrap();
        panic!("no commit of {} was held:\n{}", hold.table, String::from_utf8_lossy(&out.stderr));
    }
    // "Compacted <lake>: <n> files into <m> sorted (<d> days); ..."
    let compacted = run_ok(direct().args(["compact", "--lake", &lake]));
    let removed: u64 = compacted.split(" files into").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    stats.release.notify_one();
    let out = tokio::task::spawn_blocking(move || held.wait_with_output().unwrap()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the held ingest failed:\n{stderr}");
    assert!(removed > 0, "the compaction removed nothing: {compacted}");

    let sql = |q: &str| -> serde_json::Value {
        serde_json::from_str(&run_ok(direct().args(["sql", "--lake", &lake, q]))).unwrap()
    };
    let events = sql("SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail");
    let want = Some(ids.len() as u64);
    assert_eq!((events["n"].as_u64(), events["ids"].as_u64()), (want, want), "{stderr}");
    let ledger =
        sql("SELECT count(*) AS n, count(DISTINCT name) AS names FROM ingested_files WHERE status = 'ingested'");
    let want = Some(files.len() as u64);
    assert_eq!((ledger["n"].as_u64(), ledger["names"].as_u64()), (want, want), "{stderr}");
    // It hit the moment: its attempt failed and the log showed its files committed.
    assert!(stderr.contains("are in the table already"), "the held commit was not found landed:\n{stderr}");
}

/// The events commit reaches S3, a compaction merges its files away, then its writer's
/// answer is lost: the object store's retry of the conditional PUT finds the version
/// taken. A retry that committed the same files again would bring them back beside their
/// compacted copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_commit_whose_answer_is_lost_across_a_compaction_lands_once() {
    commit_held_while_a_compaction_commits(Hold { table: "cloudtrail", applied_first: true }).await;
}

/// The ledger commit is held after the events commit; the compaction's ledger repair
/// commits the run's ledger file and merges it away; then the writer's own ledger commit
/// reaches S3 and finds the version taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_commit_made_after_a_compaction_repaired_it_lands_once() {
    commit_held_while_a_compaction_commits(Hold { table: "ingested_files", applied_first: false }).await;
}
