//! The long-running ingester: S3 notifications on SQS -> log files -> the lake.
//!
//! Delivery semantics:
//! - messages are received by long polling (`--receivers` loops, 10 at a time) and kept
//!   invisible by a heartbeat (ChangeMessageVisibility) while they are being worked on;
//! - objects are fetched with bounded concurrency and decoded by the lanes; every
//!   `--flush-secs` (or `--flush-mb` of inflated data) the lanes flush, one commit adds the
//!   data and the ledger, and only then are the window's messages deleted;
//! - an object already in the ledger (a redelivery, a duplicate notification) is skipped,
//!   so a crash between commit and delete never adds rows twice;
//! - a body no parser recognises is left on the queue (its redrive policy moves it to the
//!   dead-letter queue); an object whose fetch fails leaves its message undeleted;
//! - an undecodable file is quarantined (a durable copy) and its message deleted after the
//!   commit that records it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry};
use bytes::Bytes;
use deltalake::DeltaTable;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lake::{CLOUDTRAIL_TABLE, LEDGER_TABLE, Lake};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::message::{Announcement, ObjectRef, parse_body};
use crate::admission::{Admission, Verdict};
use crate::aws::AwsOptions;
use crate::aws::failure::{Failure, FailureKind, explain};
use crate::counters::{self, Counters, Snapshot};
use crate::digest_check::{ArrivedDigest, IntegrityOptions, Store, Verifier};
use crate::lanes::{LaneOptions, Lanes};
use crate::object::{Payload, SourceObject};
use crate::source::{fetch_digest_s3, fetch_s3};
use crate::{IngestError, Result};

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub queue_url: String,
    /// Concurrent ReceiveMessage loops.
    pub receivers: usize,
    /// Objects downloaded at once.
    pub download_concurrency: usize,
    /// Longest time between commits, in seconds.
    pub flush_secs: u64,
    /// Inflated MiB buffered before a commit.
    pub flush_mb: u64,
    /// Visibility timeout set on received messages and renewed by the heartbeat, seconds.
    pub visibility_secs: i32,
    /// Drain the queue until it is empty, then exit.
    pub once: bool,
    /// Seconds between periodic statistics log lines.
    pub stats_secs: u64,
    /// With `once`: how long the queue may stay unreachable before the run fails.
    pub reach_timeout: Duration,
    pub lanes: LaneOptions,
    /// Log file integrity: digest files checked as they arrive.
    pub integrity: IntegrityOptions,
}

/// What a `--once` run did: the counters (field names as in backfill's
/// [`crate::backfill::Summary`]) and how long it took.
#[derive(Debug, Default, Serialize)]
pub struct ServiceSummary {
    #[serde(flatten)]
    pub counts: Snapshot,
    pub seconds: f64,
    pub events_per_second: f64,
}

struct Received {
    id: String,
    receipt: String,
    body: String,
}

/// Messages being worked on (id -> receipt handle): the heartbeat keeps them invisible.
type InFlight = Arc<Mutex<HashMap<String, String>>>;

/// The ingest service: its clients, options, metrics and the messages in flight. Cheap
/// to clone (the clients and shared state are reference-counted): the receive, heartbeat
/// and statistics loops each run on a clone.
#[derive(Clone)]
pub struct Service {
    lake: Lake,
    opts: ServiceOptions,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    metrics: Arc<Counters>,
    in_flight: InFlight,
    /// A failure that stops the service (a receiver met a queue that is gone, or access
    /// refused): the run finishes its window, then returns it.
    fatal: Arc<Mutex<Option<IngestError>>>,
    /// Wakes the run when a fatal failure is recorded: the whole service stops.
    halt: Arc<tokio::sync::Notify>,
}

impl Service {
    /// A service reading `opts.queue_url` into `lake`, with clients built from `aws`.
    pub async fn new(lake: Lake, aws: &AwsOptions, opts: ServiceOptions, metrics: Arc<Counters>) -> Service {
        let conf = aws.sdk_config().await;
        Service {
            lake,
            opts,
            sqs: aws_sdk_sqs::Client::new(&conf),
            s3: aws.s3_client().await,
            metrics,
            in_flight: Arc::default(),
            fatal: Arc::default(),
            halt: Arc::default(),
        }
    }

    async fn preflight(&self) -> Result<()> {
        ask_queue(&self.sqs, &self.opts).await
    }

    /// Records the failure that stops the service (the first one wins).
    fn fail(&self, e: IngestError) {
        if let Ok(mut f) = self.fatal.lock()
            && f.is_none()
        {
            *f = Some(e);
        }
        self.halt.notify_one();
    }
}

/// [`ask_queue`] with a client built from `aws`: run before a lake is opened, so that a
/// queue that cannot be used fails before anything is created.
pub async fn reach_queue(aws: &AwsOptions, opts: &ServiceOptions) -> Result<()> {
    ask_queue(&aws_sdk_sqs::Client::new(&aws.sdk_config().await), opts).await
}

/// Asks the queue for its ARN: a queue that does not exist, a refusal or bad credentials
/// fail at once with a message that says what to check; an unreachable endpoint fails a
/// `--once` run after `reach_timeout` (a service keeps trying: its receivers back off and
/// retry).
async fn ask_queue(sqs: &aws_sdk_sqs::Client, opts: &ServiceOptions) -> Result<()> {
    let resource = format!("queue {}", opts.queue_url);
    let deadline = tokio::time::Instant::now() + opts.reach_timeout;
    loop {
        let ask = sqs
            .get_queue_attributes()
            .queue_url(&opts.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send();
        let failure = match tokio::time::timeout_at(deadline, ask).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => explain(&e, "GetQueueAttributes", &resource),
            Err(_) => Failure {
                kind: FailureKind::Unreachable,
                message: format!(
                    "GetQueueAttributes on {resource} failed (no answer in {} s): cannot reach AWS: check \
                     --endpoint-url/AWS_ENDPOINT_URL, the region and the network (README: Configuration)",
                    opts.reach_timeout.as_secs()
                ),
            },
        };
        if !failure.kind.is_retryable() {
            return Err(IngestError::Aws(failure));
        }
        if !opts.once {
            tracing::warn!("{failure}; the receivers keep trying.");
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(IngestError::Aws(failure));
        }
        tracing::warn!("{failure}; trying again.");
        // The pause between attempts at an unreachable endpoint (at most 500 ms, never past
        // the deadline): a retry interval, not a wait for something else to happen.
        tokio::time::sleep(Duration::from_millis(500).min(deadline - tokio::time::Instant::now())).await;
    }
}

impl Service {
    /// Runs until `--once` drains the queue, or `shutdown` (SIGTERM/SIGINT in the
    /// binary) asks it to stop: then it stops receiving, flushes, commits, deletes and
    /// returns.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<ServiceSummary> {
        let started = Instant::now();
        let opts = &self.opts;
        self.preflight().await?;
        let cloudtrail = self.lake.table(CLOUDTRAIL_TABLE).await?;
        let admission = Admission::new(self.lake.known_sources().await?);
        let lanes = Lanes::start(&self.lake, &cloudtrail, &opts.lanes, self.metrics.clone())?;
        let verifier = match opts.integrity.enabled {
            true => Some(Verifier::new(&self.lake, opts.integrity.clone()).await?),
            false => None,
        };
        tracing::info!(
            queue = %opts.queue_url,
            lake = self.lake.location(),
            known = admission.known_len(),
            "Ingest service starting."
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let (msg_tx, mut msg_rx) = mpsc::channel::<Received>(opts.receivers.max(1) * 10);
        let receivers: Vec<_> = (0..opts.receivers.max(1))
            .map(|_| tokio::spawn(self.clone().receive_loop(msg_tx.clone(), stop_rx.clone())))
            .collect();
        drop(msg_tx);
        let heartbeat = tokio::spawn(self.clone().heartbeat_loop(stop_rx.clone()));
        let stats = tokio::spawn(self.clone().stats_loop(stop_rx.clone()));

        let mut run = Ingestor { svc: self, cloudtrail, lanes, admission, verifier, window: Window::default() };
        let mut fetches = FuturesUnordered::new();
        let flush_every = Duration::from_secs(opts.flush_secs.max(1));
        let mut flush_at = tokio::time::Instant::now() + flush_every;
        let mut receiving = true;
        let mut stopping = false;
        let flush_bytes = opts.flush_mb.max(1) << 20;
        let result: Result<()> = loop {
            let mut flush_due = false;
            tokio::select! {
                changed = shutdown.changed(), if !stopping => {
                    if changed.is_err() || *shutdown.borrow() {
                        tracing::info!("Stopping: finishing the current window.");
                        stopping = true;
                        let _ = stop_tx.send(true);
                    }
                }
                () = self.halt.notified(), if !stopping => {
                    tracing::info!("Stopping after a failure that will not go away: finishing the current window.");
                    stopping = true;
                    let _ = stop_tx.send(true);
                }
                msg = msg_rx.recv(), if receiving && fetches.len() < opts.download_concurrency.max(1) => {
                    match msg {
                        Some(m) => {
                            if let Some(fut) = run.accept(m).await {
                                fetches.push(fut);
                            }
                        }
                        None => receiving = false,
                    }
                }
                Some(done) = fetches.next(), if !fetches.is_empty() => {
                    if let Err(e) = run.fetched(done).await {
                        break Err(e);
                    }
                }
                _ = tokio::time::sleep_until(flush_at) => flush_due = true,
            }
            let drained = !receiving && fetches.is_empty();
            if run.lanes.counters.pending_inflated.load(Ordering::Relaxed) >= flush_bytes {
                flush_due = true;
            }
            if !(flush_due || drained || (stopping && fetches.is_empty())) {
                continue;
            }
            // Finish the fetches already started: their messages belong to this window.
            let mut drain_err = None;
            while let Some(done) = fetches.next().await {
                if let Err(e) = run.fetched(done).await {
                    drain_err = Some(e);
                    break;
                }
            }
            if let Some(e) = drain_err {
                break Err(e);
            }
            if let Err(e) = run.commit().await {
                break Err(e);
            }
            flush_at = tokio::time::Instant::now() + flush_every;
            if drained || stopping {
                break Ok(());
            }
        };
        let _ = stop_tx.send(true);
        for r in receivers {
            let _ = r.await;
        }
        heartbeat.abort();
        stats.abort();
        run.lanes.stop().await;
        result?;
        if let Some(e) = self.fatal.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        Ok(self.summary(started.elapsed().as_secs_f64()))
    }

    fn summary(&self, seconds: f64) -> ServiceSummary {
        let counts = self.metrics.snapshot();
        ServiceSummary { counts, seconds, events_per_second: counts.events as f64 / seconds.max(1e-9) }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut m) = self.in_flight.lock() {
            m.remove(id);
        }
    }

    /// Deletes messages whose objects are committed, 10 per request.
    async fn delete_messages(&self, done: Vec<(String, String)>) {
        for chunk in done.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, (_, receipt))| {
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(receipt).build().ok()
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.opts.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    Counters::add(&self.metrics.messages_deleted, out.successful().len() as u64);
                    for f in out.failed() {
                        Counters::add(&self.metrics.errors, 1);
                        tracing::warn!(
                            code = f.code(),
                            "A message could not be deleted; its redelivery will be skipped as already ingested."
                        );
                    }
                }
                Err(e) => {
                    Counters::add(&self.metrics.errors, 1);
                    let failure = explain(&e, "DeleteMessageBatch", &format!("queue {}", self.opts.queue_url));
                    tracing::warn!("{failure}; redeliveries will be skipped as already ingested.");
                }
            }
            for (id, _) in chunk {
                self.forget(id);
            }
        }
    }

    /// Receives messages (long polling, 10 at a time) into `tx` until `stop`.
    async fn receive_loop(self, tx: mpsc::Sender<Received>, mut stop: watch::Receiver<bool>) {
        let (sqs, opts, metrics) = (&self.sqs, &self.opts, &self.metrics);
        let mut backoff = Duration::from_millis(200);
        let wait = if opts.once { 1 } else { 20 };
        // Since when ReceiveMessage has failed without a success in between.
        let mut failing_since: Option<Instant> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            let recv = sqs
                .receive_message()
                .queue_url(&opts.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .visibility_timeout(opts.visibility_secs)
                .send();
            let out = tokio::select! {
                out = recv => out,
                _ = stop.changed() => return,
            };
            match out {
                Ok(out) => {
                    backoff = Duration::from_millis(200);
                    failing_since = None;
                    let msgs = out.messages.unwrap_or_default();
                    if msgs.is_empty() && opts.once {
                        return;
                    }
                    for m in msgs {
                        let (Some(id), Some(receipt)) = (m.message_id, m.receipt_handle) else { continue };
                        Counters::add(&metrics.messages_received, 1);
                        if let Ok(mut f) = self.in_flight.lock() {
                            f.insert(id.clone(), receipt.clone());
                        }
                        let body = m.body.unwrap_or_default();
                        if tx.send(Received { id, receipt, body }).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    Counters::add(&metrics.errors, 1);
                    let failure = explain(&e, "ReceiveMessage", &format!("queue {}", opts.queue_url));
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    // A queue gone, a refusal or rejected credentials stop the service (a
                    // person must act); the rest is retried with backoff, up to
                    // --reach-timeout-secs with --once.
                    if failure.kind.is_permanent() || (opts.once && since.elapsed() >= opts.reach_timeout) {
                        tracing::error!("{failure}");
                        self.fail(IngestError::Aws(failure));
                        return;
                    }
                    tracing::warn!(retry_in_ms = backoff.as_millis() as u64, "{failure}");
                    // Back off with jitter: no hot loop while the queue is unreachable.
                    let jitter = Duration::from_millis(u64::from(std::process::id() % 97));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff + jitter) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Keeps the messages being worked on invisible to other consumers.
    async fn heartbeat_loop(self, mut stop: watch::Receiver<bool>) {
        let (sqs, opts) = (&self.sqs, &self.opts);
        let period = Duration::from_secs((opts.visibility_secs.max(3) / 3) as u64);
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => {}
            }
            let snapshot: Vec<(String, String)> = match self.in_flight.lock() {
                Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                Err(_) => return,
            };
            for chunk in snapshot.chunks(10) {
                let entries: Vec<_> = chunk
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (_, receipt))| {
                        ChangeMessageVisibilityBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(receipt)
                            .visibility_timeout(opts.visibility_secs)
                            .build()
                            .ok()
                    })
                    .collect();
                if let Err(e) = sqs
                    .change_message_visibility_batch()
                    .queue_url(&opts.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                {
                    let failure = explain(&e, "ChangeMessageVisibilityBatch", &format!("queue {}", opts.queue_url));
                    tracing::warn!("Visibility heartbeat: {failure}");
                }
            }
            tracing::debug!(messages = snapshot.len(), "Visibility extended.");
        }
    }

    /// Logs the counters and the queue's backlog periodically.
    async fn stats_loop(self, mut stop: watch::Receiver<bool>) {
        let (sqs, opts, metrics) = (&self.sqs, &self.opts, &self.metrics);
        let mut tick = tokio::time::interval(Duration::from_secs(opts.stats_secs.max(1)));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let lag = sqs
                .get_queue_attributes()
                .queue_url(&opts.queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await
                .ok()
                .and_then(|o| {
                    o.attributes().and_then(|a| {
                        a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages).cloned()
                    })
                })
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(lag) = lag {
                metrics.queue_lag_messages.store(lag, Ordering::Relaxed);
            }
            let s = metrics.snapshot();
            tracing::info!(
                received = s.messages_received,
                deleted = s.messages_deleted,
                files = s.files,
                skipped = s.files_already_ingested,
                events = s.events,
                bytes = s.bytes,
                commits = s.commits,
                lag = s.queue_lag_messages,
                unrecognised = s.messages_unrecognised,
                failed = s.messages_failed,
                retried = s.errors,
                "Ingest service statistics (files skipped: already in the lake; retried: AWS calls that failed and were tried again)."
            );
        }
    }
}

/// An announced object, fetched: a log file's bytes, or a digest with its signature.
enum Fetched {
    Log(Bytes),
    Digest(ArrivedDigest),
}

type FetchResult = (Received, Vec<(ObjectRef, Result<Fetched>)>);
type FetchFuture = std::pin::Pin<Box<dyn std::future::Future<Output = FetchResult> + Send>>;

/// The messages since the last commit.
#[derive(Default)]
struct Window {
    /// Messages whose objects are all in this window: deleted after the commit.
    done: Vec<(String, String)>,
    /// The ledger version our admission reflects; `None` makes the first commit re-check
    /// the ledger, covering commits made between our load of it and now.
    ledger_seen: Option<u64>,
    /// Digest files fetched in this window: checked at its commit.
    digests: Vec<ArrivedDigest>,
}

/// One run of the service: the table it commits to, its lanes, what it admits, and the
/// window of messages since the last commit.
struct Ingestor<'a> {
    svc: &'a Service,
    cloudtrail: DeltaTable,
    lanes: Lanes,
    admission: Admission,
    verifier: Option<Verifier>,
    window: Window,
}

impl Ingestor<'_> {
    /// Parses a message; returns the fetch of its objects, if any need fetching.
    async fn accept(&mut self, m: Received) -> Option<FetchFuture> {
        let metrics = &self.svc.metrics;
        match parse_body(&m.body) {
            Err(e) => {
                metrics.emit(counters::MessageUnrecognised { id: &m.id, error: &e.to_string() });
                self.svc.forget(&m.id);
                None
            }
            Ok(Announcement::TestEvent) => {
                Counters::add(&metrics.test_events, 1);
                let deleted = self
                    .svc
                    .sqs
                    .delete_message()
                    .queue_url(&self.svc.opts.queue_url)
                    .receipt_handle(&m.receipt)
                    .send()
                    .await;
                if deleted.is_ok() {
                    Counters::add(&metrics.messages_deleted, 1);
                }
                self.svc.forget(&m.id);
                None
            }
            Ok(Announcement::Objects(objects)) => {
                let mut wanted = vec![];
                for o in objects {
                    if self.verifier.is_some() && self.admission.digest_verdict(&o.key, o.size) == Verdict::Admit {
                        wanted.push(o);
                        continue;
                    }
                    match self.admission.verdict(&o.key, o.size) {
                        Verdict::Admit => wanted.push(o),
                        Verdict::NotALog => Counters::add(&metrics.files_not_logs, 1),
                        Verdict::AlreadyIngested => Counters::add(&metrics.files_already_ingested, 1),
                    }
                }
                if wanted.is_empty() {
                    self.window.done.push((m.id, m.receipt));
                    return None;
                }
                let s3 = self.svc.s3.clone();
                Some(Box::pin(async move {
                    let fetched = futures::future::join_all(wanted.into_iter().map(|o| {
                        let s3 = s3.clone();
                        async move {
                            let data = if matches!(crate::layout::classify(&o.key), crate::layout::KeyKind::Digest) {
                                let obj = SourceObject {
                                    uri: format!("s3://{}/{}", o.bucket, o.key),
                                    key: o.key.clone(),
                                    size: o.size.unwrap_or(0),
                                    etag: None,
                                };
                                fetch_digest_s3(&s3, &o.bucket, obj).await.map(Fetched::Digest)
                            } else {
                                fetch_s3(&s3, &o.bucket, &o.key).await.map(Fetched::Log)
                            };
                            (o, data)
                        }
                    }))
                    .await;
                    (m, fetched)
                }))
            }
        }
    }

    /// Hands a message's fetched objects to the lanes.
    async fn fetched(&mut self, (m, objects): FetchResult) -> Result<()> {
        let metrics = &self.svc.metrics;
        let mut ok = true;
        for (o, data) in objects {
            match data {
                Ok(Fetched::Digest(d)) => {
                    if self.admission.digest_verdict(&o.key, Some(d.gz.len() as i64)) != Verdict::Admit {
                        Counters::add(&metrics.files_already_ingested, 1);
                        continue;
                    }
                    self.admission.take(&o.key);
                    self.window.digests.push(d);
                }
                Ok(Fetched::Log(data)) => {
                    // The notification's size may be absent (CloudTrail's SNS) or stale.
                    if self.admission.verdict(&o.key, Some(data.len() as i64)) != Verdict::Admit {
                        Counters::add(&metrics.files_already_ingested, 1);
                        continue;
                    }
                    let obj = SourceObject {
                        uri: format!("s3://{}/{}", o.bucket, o.key),
                        key: o.key.clone(),
                        size: data.len() as i64,
                        etag: None,
                    };
                    self.lanes.submit(obj, Payload::Fetched(data)).await?;
                    self.admission.take(&o.key);
                }
                Err(e) => {
                    ok = false;
                    Counters::add(&metrics.errors, 1);
                    tracing::warn!(message_id = %m.id, error = %e, "Object fetch failed; the message will be retried.");
                }
            }
        }
        if ok {
            self.window.done.push((m.id, m.receipt));
        } else {
            Counters::add(&metrics.messages_failed, 1);
            self.svc.forget(&m.id);
        }
        Ok(())
    }

    /// Flushes the lanes, commits, then deletes the window's messages.
    async fn commit(&mut self) -> Result<()> {
        let (lake, metrics) = (&self.svc.lake, &self.svc.metrics);
        let mut flushed = self.lanes.flush().await?;
        let digests = std::mem::take(&mut self.window.digests);
        // Digests are committed as ledger rows too: a window of digests alone commits.
        let mut checked = crate::digest_check::Checked::default();
        if let Some(v) = self.verifier.as_mut()
            && v.has_work(&flushed.ledger, &digests)
        {
            checked = v.check(lake, digests, &flushed.ledger, &Store::S3(self.svc.s3.clone())).await?;
        }
        let checked_digests = std::mem::take(&mut checked.digests);
        flushed.ledger.extend(checked.ledger);
        // Another ingester may have committed some of these objects since our ledger was
        // loaded (a duplicate notification delivered to both): reload, and on a clash
        // commit nothing and leave the window's messages to reappear; their objects are
        // known by then and skipped.
        let latest = lake.table(LEDGER_TABLE).await?.version();
        if latest != self.window.ledger_seen && !flushed.ledger.is_empty() {
            self.admission.reload(lake.known_sources().await?);
            self.window.ledger_seen = latest;
            if self.admission.any_known(&flushed.ledger) {
                tracing::warn!(
                    messages = self.window.done.len(),
                    "Another ingester committed some of this window's files; retrying the window."
                );
                for (id, _) in std::mem::take(&mut self.window.done) {
                    self.svc.forget(&id);
                }
                self.admission.abandon_pending();
                // What this window's check expected to be pending is not committed.
                if let Some(v) = self.verifier.as_mut() {
                    v.reload(lake).await?;
                }
                return Ok(());
            }
        }
        if !flushed.ledger.is_empty() {
            let mut window = crate::window::Window {
                adds: flushed.adds,
                rollup: flushed.rollup,
                ledger: flushed.ledger,
                digests: checked_digests,
            };
            let committed = window.commit(lake, &mut self.cloudtrail).await?;
            let version = committed.version;
            metrics.emit(counters::Committed {
                files: flushed.files,
                events: flushed.events,
                bytes: flushed.bytes,
                digests_checked: committed.digests_checked,
                digests_with_problems: committed.digests_with_problems,
                version,
            });
            self.admission.committed(&window.ledger);
            tracing::debug!(messages = self.window.done.len(), "Their messages are deleted next.");
            self.window.ledger_seen = lake.table(LEDGER_TABLE).await?.version();
        }
        self.admission.abandon_pending();
        if !self.window.done.is_empty() {
            lake::failpoint::hit("sqs.before-delete");
        }
        self.svc.delete_messages(std::mem::take(&mut self.window.done)).await;
        Ok(())
    }
}

/// Listens on the metrics address: a failure (the port is taken) stops the service before
/// it starts, instead of leaving it running unmonitored.
pub async fn bind_metrics(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        IngestError::Config(format!(
            "cannot serve metrics on {addr}: {e} (another process, perhaps another ingester, listens there: \
             choose another --metrics-addr / TRAILHOUSE_METRICS_ADDR)"
        ))
    })?;
    // The bound address, so `--metrics-addr 127.0.0.1:0` tells where the OS put it.
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "Metrics endpoint listening.");
    Ok(listener)
}
