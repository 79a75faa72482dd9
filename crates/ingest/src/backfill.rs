//! Backfill: every log file under a source into the lake, committed as it goes.
//!
//! ```text
//! list ──> admission (log files the lake lacks) ──> fetch (async, N at once) ──> lanes (one per core):
//!          inflate + parse into Arrow + Parquet encode, streaming files to the lake
//!      ──> every --commit-every (minutes of work or GB read): a commit of the data files
//!          written so far + their ledger rows; the last commit also holds the digests' checks
//! ```
//! Channels are bounded, so memory stays flat whatever the size of the source.
//!
//! Each commit is the unit of resumption: a backfill killed at any moment leaves the lake
//! with whole commits only (the data files of an unfinished one are never referenced), and a
//! rerun skips every log file the ledger holds without reading it, so it carries on where the
//! last commit ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lake::{CLOUDTRAIL_TABLE, Lake};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::admission::{Admission, Verdict};
use crate::counters::{self, Counters};
use crate::decode::DEFAULT_MAX_INFLATED;
use crate::digest_check::{IntegrityOptions, Verifier};
use crate::lanes::{Flushed, LaneOptions, Lanes};
use crate::source::{Source, SourceObject};
use crate::{IngestError, Result};

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
    /// Event dates a lane writes before closing its files (see [`LaneOptions`]).
    pub max_open_dates: usize,
    /// Running totals the backfill adds to as it goes: keep a clone to show progress.
    pub counters: Arc<Counters>,
    /// Log file integrity: digest files checked as they are met (on by default).
    pub integrity: IntegrityOptions,
    /// When to commit what has been read so far.
    pub commit_every: CommitEvery,
}

/// When a backfill commits the log files it has read so far, so that a killed backfill
/// resumes from its last commit instead of starting over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitEvery {
    /// After this much work since the last commit (the default: five minutes).
    Elapsed(Duration),
    /// After this many bytes read from the source (compressed, as the bucket lists them).
    Bytes(u64),
    /// Once, at the end: the backfill is all or nothing.
    End,
}

impl Default for CommitEvery {
    fn default() -> Self {
        CommitEvery::Elapsed(Duration::from_secs(5 * 60))
    }
}

impl std::str::FromStr for CommitEvery {
    type Err = String;

    /// `90s`, `5m`, `1h` (work since the last commit, as `lake::time::parse_duration`
    /// reads it), `500MB`, `2GB`, `1GiB` (bytes read), or `end` (one commit at the end).
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("end") {
            return Ok(CommitEvery::End);
        }
        if let Some(micros) = lake::time::parse_duration(t) {
            return match u64::try_from(micros) {
                Ok(m) if m > 0 => Ok(CommitEvery::Elapsed(Duration::from_micros(m))),
                _ => Err(format!("{s:?}: the period must be above zero")),
            };
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: f64 = number
            .parse()
            .map_err(|_| format!("{s:?}: expected a number and a unit, like 5m, 90s, 1h, 500MB or 2GB, or `end`"))?;
        let unit = unit.trim().to_ascii_lowercase();
        let scale: f64 = match unit.as_str() {
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => {
                return Err(format!(
                    "{s:?}: unknown unit {unit:?} (s, m, h for time; KB, MB, GB, TB, KiB, MiB, GiB for bytes)"
                ));
            }
        };
        let b = (n * scale) as u64;
        if b == 0 { Err(format!("{s:?}: the size must be above zero")) } else { Ok(CommitEvery::Bytes(b)) }
    }
}

impl BackfillOptions {
    /// The lanes' share of these options (the SQS service runs its lanes with them too).
    pub fn lane_options(&self) -> LaneOptions {
        LaneOptions {
            lanes: self.lanes,
            batch_rows: self.batch_rows,
            max_inflated: self.max_inflated,
            max_open_dates: self.max_open_dates,
            hash_files: self.integrity.enabled,
        }
    }
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            lanes: std::thread::available_parallelism().map_or(2, |n| n.get()),
            fetch_concurrency: 32,
            // 8k rows (~9 MB of builders) encode as fast as 32k and peak RSS is ~130 MB
            // lower on the 1M-event corpus (304 vs 439 MB with 2 lanes).
            batch_rows: 8 * 1024,
            max_inflated: DEFAULT_MAX_INFLATED,
            max_open_dates: crate::lanes::DEFAULT_MAX_OPEN_DATES,
            counters: Arc::default(),
            integrity: IntegrityOptions::default(),
            commit_every: CommitEvery::default(),
        }
    }
}

pub use crate::lanes::QuarantinedFile;

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
    /// Commits this run made (each one a point a killed backfill resumes from).
    pub commits: u64,
    /// Digest files checked (log file integrity), and those with a problem (a signature
    /// that fails, a broken chain, a file altered or missing: see the `integrity` table).
    pub digests_checked: u64,
    pub digests_with_problems: u64,
    /// Log files the digests vouched for, and those altered, missing, or still to arrive.
    pub logs_verified: u64,
    pub logs_altered: u64,
    pub logs_missing: u64,
    pub logs_pending: u64,
    pub lake_version: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub quarantined: Vec<QuarantinedFile>,
}

/// Ingests every log file under `source` that the lake does not have yet.
///
/// Every log line of the run, its lanes' and commits' included, carries a `backfill` span
/// with a run id of its own, so one run's lines can be told from another's in a shared log.
pub async fn backfill(lake: &Lake, source: &Source, opts: &BackfillOptions) -> Result<Summary> {
    use tracing::Instrument;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("backfill", run = &run[..12]);
    backfill_in_span(lake, source, opts).instrument(span).await
}

async fn backfill_in_span(lake: &Lake, source: &Source, opts: &BackfillOptions) -> Result<Summary> {
    let started = Instant::now();
    let mut cloudtrail = lake.table(CLOUDTRAIL_TABLE).await?;
    let admission = Admission::new(lake.known_sources().await?);
    let known = admission.known_len();
    tracing::info!(source = %source.describe(), lake = lake.location(), known, "Backfill starting.");

    let counters = opts.counters.clone();
    let lanes = Lanes::start(lake, &cloudtrail, &opts.lane_options(), counters.clone())?;
    let (list_tx, mut list_rx) = mpsc::channel::<SourceObject>(1024);
    let lister = {
        let source = source.clone();
        tokio::spawn(tracing::Instrument::in_current_span(async move { source.list(list_tx).await }))
    };

    // Skip what is known or not a log file; fetch with bounded concurrency; hand to lanes.
    // Digest files are kept aside, checked once the log files are in.
    let mut digest_objects = vec![];
    let checking = opts.integrity.enabled;
    let candidates = futures::stream::poll_fn(|cx| list_rx.poll_recv(cx)).filter(|o| {
        Counters::add(&counters.listed, 1);
        if checking {
            match admission.digest_verdict(&o.key, Some(o.size)) {
                Verdict::Admit => {
                    digest_objects.push(o.clone());
                    return std::future::ready(false);
                }
                Verdict::AlreadyIngested => {
                    Counters::add(&counters.files_already_ingested, 1);
                    return std::future::ready(false);
                }
                Verdict::NotALog => {}
            }
        }
        let keep = match admission.verdict(&o.key, Some(o.size)) {
            Verdict::Admit => {
                Counters::add(&counters.to_read, 1);
                true
            }
            Verdict::NotALog => {
                Counters::add(&counters.files_not_logs, 1);
                false
            }
            Verdict::AlreadyIngested => {
                Counters::add(&counters.files_already_ingested, 1);
                false
            }
        };
        std::future::ready(keep)
    });
    let mut fetched = candidates
        .map(|obj| async move {
            let payload = source.payload(&obj).await;
            (obj, payload)
        })
        .buffer_unordered(opts.fetch_concurrency.max(1));
    let mut failure = None;
    let mut done = Committed::new(opts.commit_every);
    while let Some((obj, payload)) = fetched.next().await {
        let size = obj.size.max(0) as u64;
        let submitted = match payload {
            Ok(payload) => lanes.submit(obj, payload).await,
            Err(e) => Err(e),
        };
        let committed = match submitted {
            Ok(()) if done.due(size) => done.commit(lake, &mut cloudtrail, &lanes).await,
            other => other,
        };
        if let Err(e) = committed {
            failure = Some(e);
            break;
        }
    }
    drop(fetched);
    // On failure the lister may be blocked on a full channel: closing it ends the lister.
    list_rx.close();
    let listing = lister.await.map_err(|e| IngestError::Config(format!("listing task failed: {e}")));
    let flushed = match failure {
        Some(e) => Err(e),
        None => lanes.flush().await,
    };
    lanes.stop().await;
    let mut flushed = flushed?;
    listing??;
    // The last commit's data files and ledger rows; the summary counts all commits.
    let (adds, mut ledger) = (std::mem::take(&mut flushed.adds), std::mem::take(&mut flushed.ledger));
    let rollup = std::mem::take(&mut flushed.rollup);
    // What the last commit holds of the log files (the earlier commits counted theirs).
    let last = counters::Committed {
        files: flushed.files,
        events: flushed.events,
        bytes: flushed.bytes,
        ..Default::default()
    };
    let mut totals = std::mem::take(&mut done.totals);
    totals.absorb(flushed);

    // The digests met, checked against the log files now in (or already in) the lake.
    let mut checked = crate::digest_check::Checked::default();
    // (Also without digests when earlier digests wait for log files: this run may bring them.)
    let verifier = if checking { Some(Verifier::new(lake, opts.integrity.clone()).await?) } else { None };
    if let Some(mut verifier) = verifier.filter(|v| !digest_objects.is_empty() || v.pending() > 0) {
        let digests: Vec<_> = futures::stream::iter(digest_objects.iter().map(|o| source.digest(o)))
            .buffer_unordered(opts.fetch_concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;
        let started = Instant::now();
        checked = verifier.check(lake, digests, &ledger, &source.store()).await?;
        tracing::info!(
            digests = checked.digests.len(),
            pending = verifier.pending(),
            seconds = started.elapsed().as_secs_f64(),
            "Digests checked."
        );
    }

    let seen = counters.snapshot();
    let mut summary = Summary {
        source: source.describe(),
        lake: lake.location().to_string(),
        objects_listed: seen.listed,
        files_already_ingested: seen.files_already_ingested,
        files_not_logs: seen.files_not_logs,
        files: totals.files,
        events: totals.events,
        events_without_time: totals.bad_time,
        records_not_objects: totals.not_object,
        bytes: totals.bytes,
        bytes_inflated: totals.inflated,
        files_quarantined: totals.quarantined.len() as u64,
        quarantined: totals.quarantined,
        data_files_written: done.data_files + adds.len() as u64,
        ..Default::default()
    };
    for d in &checked.digests {
        summary.digests_checked += 1;
        summary.digests_with_problems += u64::from(d.has_problem());
        summary.logs_verified += d.logs_valid as u64;
        summary.logs_altered += d.logs_altered as u64;
        summary.logs_missing += d.logs_missing as u64;
        summary.logs_pending += d.logs_pending as u64;
    }
    ledger.extend(checked.ledger);
    let mut window = crate::window::Window { adds, rollup, ledger, digests: checked.digests };
    let committed = window.commit(lake, &mut cloudtrail).await?;
    summary.lake_version = committed.version;
    counters.emit(counters::Committed {
        digests_checked: committed.digests_checked,
        digests_with_problems: committed.digests_with_problems,
        version: committed.version,
        ..last
    });
    summary.commits = counters.snapshot().commits;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.events as f64 / summary.seconds.max(1e-9);
    tracing::info!(
        files = summary.files,
        events = summary.events,
        quarantined = summary.files_quarantined,
        version = summary.lake_version,
        commits = summary.commits,
        seconds = summary.seconds,
        "Backfill committed."
    );
    Ok(summary)
}

/// The commits a backfill has made before its last one, and when the next is due.
struct Committed {
    every: CommitEvery,
    since: Instant,
    bytes: u64,
    data_files: u64,
    /// Counts of what is committed (without data files or ledger rows: those are in the lake).
    totals: Flushed,
}

impl Committed {
    fn new(every: CommitEvery) -> Committed {
        Committed { every, since: Instant::now(), bytes: 0, data_files: 0, totals: Flushed::default() }
    }

    /// Counts `bytes` more read; whether a commit is due.
    fn due(&mut self, bytes: u64) -> bool {
        self.bytes += bytes;
        match self.every {
            CommitEvery::Elapsed(d) => self.since.elapsed() >= d,
            CommitEvery::Bytes(b) => self.bytes >= b,
            CommitEvery::End => false,
        }
    }

    /// Flushes the lanes and commits what they wrote, with its ledger rows.
    async fn commit(&mut self, lake: &Lake, cloudtrail: &mut deltalake::DeltaTable, lanes: &Lanes) -> Result<()> {
        let mut flushed = lanes.flush().await?;
        if !flushed.ledger.is_empty() {
            // The digests are checked once the log files are all in: none in this window.
            let mut window = crate::window::Window {
                adds: std::mem::take(&mut flushed.adds),
                rollup: std::mem::take(&mut flushed.rollup),
                ledger: std::mem::take(&mut flushed.ledger),
                digests: Vec::new(),
            };
            self.data_files += window.adds.len() as u64;
            let committed = window.commit(lake, cloudtrail).await?;
            lanes.counters.emit(counters::Committed {
                files: flushed.files,
                events: flushed.events,
                bytes: flushed.bytes,
                digests_checked: 0,
                digests_with_problems: 0,
                version: committed.version,
            });
            self.totals.absorb(flushed);
        }
        self.since = Instant::now();
        self.bytes = 0;
        Ok(())
    }
}
