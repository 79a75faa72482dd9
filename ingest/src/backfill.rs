//! Backfill: every log file under a source into the lake, in one atomic commit.
//!
//! ```text
//! list ──> skip known/non-log ──> fetch (async, N at once) ──> lanes (one per core):
//!          inflate + parse into Arrow + Parquet encode, streaming files to the lake
//!      ──> one commit of all data files + the ledger
//! ```
//! Channels are bounded, so memory stays flat whatever the size of the source.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use deltalake::kernel::Add;
use deltalake::writer::DeltaWriter;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::decode::{DEFAULT_MAX_INFLATED, EventBatchBuilder, FileDecoder};
use crate::lake::{CLOUDTRAIL_TABLE, Lake, LedgerEntry};
use crate::layout;
use crate::source::{Source, SourceObject};
use crate::{IngestError, Result};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// A bar on a terminal, periodic log lines otherwise.
    #[default]
    Auto,
    /// Periodic log lines only.
    Log,
    /// Nothing.
    Quiet,
}

/// Backfill settings.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Decode/encode lanes (threads); default: the number of cores.
    pub lanes: usize,
    /// Objects fetched at once.
    pub fetch_concurrency: usize,
    /// Rows per Arrow batch handed to the Parquet writer.
    pub batch_rows: usize,
    /// Largest inflated file accepted, in bytes.
    pub max_inflated: usize,
    pub progress: Progress,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            lanes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            fetch_concurrency: 32,
            batch_rows: 32 * 1024,
            max_inflated: DEFAULT_MAX_INFLATED,
            progress: Progress::Auto,
        }
    }
}

/// A file that could not be decoded.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedFile {
    pub source: String,
    pub error: String,
    pub quarantined_to: String,
}

/// What a backfill did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub source: String,
    pub lake: String,
    /// Objects listed under the source.
    pub objects_listed: u64,
    /// Log files read and committed.
    pub files: u64,
    /// Skipped: already in the lake.
    pub files_already_ingested: u64,
    /// Skipped: digests, other services' logs, non-JSON names.
    pub files_not_logs: u64,
    pub files_quarantined: u64,
    pub events: u64,
    /// Events kept with a null `eventtime` (missing or unparseable).
    pub events_without_time: u64,
    /// `Records` entries that were not objects (kept in `unmapped`).
    pub records_not_objects: u64,
    /// Bytes read from the source (compressed).
    pub bytes: u64,
    pub bytes_inflated: u64,
    pub data_files_written: u64,
    pub lake_version: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub quarantined: Vec<QuarantinedFile>,
}

#[derive(Default)]
struct Counters {
    files: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    listed: AtomicU64,
}

struct Job {
    obj: SourceObject,
    data: Result<Bytes>,
}

#[derive(Default)]
struct LaneOutput {
    adds: Vec<Add>,
    ledger: Vec<LedgerEntry>,
    quarantined: Vec<QuarantinedFile>,
    events: u64,
    bad_time: u64,
    not_object: u64,
    bytes: u64,
    inflated: u64,
    files: u64,
}

/// Ingests every log file under `source` that the lake does not have yet.
pub async fn backfill(lake: &Lake, source: &Source, opts: &BackfillOptions) -> Result<Summary> {
    let started = Instant::now();
    let mut cloudtrail = lake.table(CLOUDTRAIL_TABLE).await?;
    let known = lake.known_sources().await?;
    tracing::info!(source = %source.describe(), lake = lake.location(), known = known.len(), "Backfill starting.");

    let counters = Arc::new(Counters::default());
    let (list_tx, mut list_rx) = mpsc::channel::<SourceObject>(1024);
    let lister = {
        let source = source.clone();
        tokio::spawn(async move { source.list(list_tx).await })
    };

    // Filter what is known or not a log file, then fetch with bounded concurrency.
    let (job_tx, job_rx) = mpsc::channel::<Job>(opts.lanes * 4);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let skipped = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let fetcher = {
        let source = source.clone();
        let counters = counters.clone();
        let skipped = skipped.clone();
        let concurrency = opts.fetch_concurrency.max(1);
        tokio::spawn(async move {
            let candidates = futures::stream::poll_fn(move |cx| list_rx.poll_recv(cx)).filter(move |o| {
                counters.listed.fetch_add(1, Ordering::Relaxed);
                let keep = if !layout::is_ingestible(&o.key) {
                    skipped.1.fetch_add(1, Ordering::Relaxed);
                    false
                } else if known.contains(layout::canonical_name(&o.key), o.size) {
                    skipped.0.fetch_add(1, Ordering::Relaxed);
                    false
                } else {
                    true
                };
                std::future::ready(keep)
            });
            let mut fetched = candidates
                .map(|obj| {
                    let source = source.clone();
                    async move {
                        let data = source.fetch(&obj).await;
                        Job { obj, data }
                    }
                })
                .buffer_unordered(concurrency);
            while let Some(job) = fetched.next().await {
                if job_tx.send(job).await.is_err() {
                    break;
                }
            }
        })
    };

    let progress = ProgressReporter::start(opts.progress, counters.clone());
    let handle = tokio::runtime::Handle::current();
    let mut lanes = vec![];
    for lane in 0..opts.lanes.max(1) {
        let writer = lake.writer(&cloudtrail)?;
        let rx = job_rx.clone();
        let lake = lake.clone();
        let handle = handle.clone();
        let counters = counters.clone();
        let opts = opts.clone();
        lanes.push(
            std::thread::Builder::new()
                .name(format!("ingest-lane-{lane}"))
                .spawn(move || run_lane(rx, writer, lake, handle, counters, opts))
                .map_err(|e| IngestError::Config(format!("cannot start a lane thread: {e}")))?,
        );
    }

    let mut outputs = vec![];
    let mut first_error = None;
    for lane in lanes {
        let joined = tokio::task::spawn_blocking(move || lane.join())
            .await
            .map_err(|e| IngestError::Config(format!("lane join failed: {e}")))?;
        match joined {
            Ok(Ok(out)) => outputs.push(out),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(IngestError::Config("an ingest lane panicked".into()));
            }
        }
    }
    // Lanes stop on a lake error; make sure the producers stop too.
    fetcher.abort();
    let listed = match lister.await {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Ok(0),
        Err(e) => Err(IngestError::Config(format!("listing task failed: {e}"))),
    };
    progress.finish();
    if let Some(e) = first_error {
        return Err(e);
    }
    listed?;

    let mut summary = Summary {
        source: source.describe(),
        lake: lake.location().to_string(),
        objects_listed: counters.listed.load(Ordering::Relaxed),
        files_already_ingested: skipped.0.load(Ordering::Relaxed),
        files_not_logs: skipped.1.load(Ordering::Relaxed),
        ..Default::default()
    };
    let mut adds = vec![];
    let mut ledger = vec![];
    for out in outputs {
        summary.files += out.files;
        summary.events += out.events;
        summary.events_without_time += out.bad_time;
        summary.records_not_objects += out.not_object;
        summary.bytes += out.bytes;
        summary.bytes_inflated += out.inflated;
        summary.files_quarantined += out.quarantined.len() as u64;
        summary.quarantined.extend(out.quarantined);
        adds.extend(out.adds);
        ledger.extend(out.ledger);
    }
    summary.data_files_written = adds.len() as u64;
    let run_id = uuid::Uuid::new_v4().to_string();
    summary.lake_version = lake.commit_run(&mut cloudtrail, adds, &ledger, &run_id).await?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.events as f64 / summary.seconds.max(1e-9);
    tracing::info!(
        files = summary.files,
        events = summary.events,
        quarantined = summary.files_quarantined,
        version = summary.lake_version,
        seconds = summary.seconds,
        "Backfill committed."
    );
    Ok(summary)
}

fn run_lane(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut writer: deltalake::writer::RecordBatchWriter,
    lake: Lake,
    handle: tokio::runtime::Handle,
    counters: Arc<Counters>,
    opts: BackfillOptions,
) -> Result<LaneOutput> {
    let mut out = LaneOutput::default();
    let mut decoder = FileDecoder::new(opts.max_inflated);
    let mut builder = EventBatchBuilder::new(opts.batch_rows);
    let lake_err = |e| IngestError::Lake { location: lake.location().to_string(), source: Box::new(e) };
    loop {
        let job = {
            let mut guard = rx.lock().map_err(|_| IngestError::Config("job queue poisoned".into()))?;
            guard.blocking_recv()
        };
        let Some(Job { obj, data }) = job else { break };
        let data = data?;
        let name = layout::canonical_name(&obj.key).to_string();
        out.bytes += data.len() as u64;
        counters.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        match decoder.decode(&data, &obj.uri, &mut builder) {
            Ok(decoded) => {
                let c = decoded.counts;
                out.files += 1;
                out.events += c.events;
                out.bad_time += c.bad_time;
                out.not_object += c.not_object;
                out.inflated += decoded.inflated_bytes;
                counters.events.fetch_add(c.events, Ordering::Relaxed);
                tracing::debug!(source = %obj.uri, events = c.events, "File decoded.");
                out.ledger.push(LedgerEntry {
                    name,
                    uri: obj.uri.clone(),
                    size: obj.size,
                    etag: obj.etag.clone(),
                    events: c.events as i64,
                    error: None,
                });
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(source = %obj.uri, error = %error, "File quarantined.");
                let to = handle.block_on(lake.quarantine(&name, &obj.uri, data, &error))?;
                out.quarantined.push(QuarantinedFile { source: obj.uri.clone(), error: error.clone(), quarantined_to: to });
                out.ledger.push(LedgerEntry {
                    name,
                    uri: obj.uri.clone(),
                    size: obj.size,
                    etag: obj.etag.clone(),
                    events: 0,
                    error: Some(error),
                });
            }
        }
        counters.files.fetch_add(1, Ordering::Relaxed);
        if builder.len() >= opts.batch_rows {
            handle.block_on(writer.write(builder.finish())).map_err(lake_err)?;
        }
    }
    if !builder.is_empty() {
        handle.block_on(writer.write(builder.finish())).map_err(lake_err)?;
    }
    out.adds = handle.block_on(writer.flush()).map_err(lake_err)?;
    Ok(out)
}

/// A progress bar on a TTY, a log line every few seconds otherwise.
struct ProgressReporter {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressReporter {
    fn start(mode: Progress, counters: Arc<Counters>) -> Self {
        if mode == Progress::Quiet {
            return ProgressReporter { stop: None, task: None };
        }
        let tty = mode == Progress::Auto && std::io::stderr().is_terminal();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let bar = tty.then(|| {
                let b = indicatif::ProgressBar::new(0);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            });
            let started = Instant::now();
            let period = if tty { Duration::from_millis(200) } else { Duration::from_secs(10) };
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let files = counters.files.load(Ordering::Relaxed);
                let events = counters.events.load(Ordering::Relaxed);
                let mb = counters.bytes.load(Ordering::Relaxed) as f64 / 1e6;
                let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
                match &bar {
                    Some(b) => {
                        b.set_length(counters.listed.load(Ordering::Relaxed));
                        b.set_position(files);
                        b.set_message(format!("{events} events, {mb:.0} MB, {rate:.0} events/s"));
                    }
                    None => tracing::info!(files, events, mb = mb as u64, events_per_sec = rate as u64, "Backfill progress."),
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        ProgressReporter { stop: Some(stop), task: Some(task) }
    }

    fn finish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        drop(self.task.take());
    }
}
