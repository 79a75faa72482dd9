//! Decode/encode lanes: one thread per core, each inflating, parsing into Arrow and
//! encoding Parquet for the files it takes, streaming data files into the lake. A
//! flush closes every lane's open files and returns their `add` actions and ledger
//! entries, ready for one commit. Both backfill and the SQS service run on this.
//!
//! The lanes share one job queue: whichever lane is free takes the next file, so a lane
//! busy encoding a row group never leaves files waiting while another lane idles (with
//! a queue per lane, fed round-robin, the 2-core backfill used ~1.5 cores). A flush puts
//! one `Flush` per lane into the queue behind every job submitted before it; a lane that
//! takes one flushes, then waits at a barrier until every lane has taken its own.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Date32Type;
use bytes::Bytes;
use deltalake::DeltaTable;
use deltalake::kernel::Add;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use indexmap::IndexMap;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use lake::{Lake, LakeError, LedgerEntry, RollupBuilder, schema};

use crate::counters::{Counters, FileDecoded, FileQuarantined};
use crate::decode::{EventBatchBuilder, FileDecoder};
use crate::layout;
use crate::object::{Payload, SourceObject};
use crate::{IngestError, Result};

/// Lane settings.
#[derive(Debug, Clone)]
pub struct LaneOptions {
    pub lanes: usize,
    /// Rows per Arrow batch handed to the Parquet writer.
    pub batch_rows: usize,
    /// Largest inflated file accepted, in bytes.
    pub max_inflated: usize,
    /// A lane closes its Parquet files (keeping their `add` actions for the next commit)
    /// once it has written more event dates than this since it last closed them: every
    /// date is an open file holding a row group and a page per column (up to ~20 MB), so
    /// a run over a year of one prefix, in key order, would otherwise hold 365 of them.
    pub max_open_dates: usize,
    /// Keep each log file's SHA-256 (of its inflated bytes) in the ledger, for log file
    /// integrity validation against CloudTrail's digests.
    pub hash_files: bool,
}

/// Default for [`LaneOptions::max_open_dates`]: more than a week of dates per lane.
pub const DEFAULT_MAX_OPEN_DATES: usize = 8;

/// A file that could not be decoded.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedFile {
    pub source: String,
    pub error: String,
    pub quarantined_to: String,
}

/// What the lanes produced since the previous flush.
#[derive(Debug, Default)]
pub struct Flushed {
    pub adds: Vec<Add>,
    /// The hourly rollup files of the events in `adds` ([`lake::rollup`]), written (not
    /// committed) when a lane's rollup filled up or flushed.
    pub rollup: Vec<Add>,
    pub ledger: Vec<LedgerEntry>,
    pub quarantined: Vec<QuarantinedFile>,
    pub files: u64,
    pub events: u64,
    pub bad_time: u64,
    pub not_object: u64,
    pub bytes: u64,
    pub inflated: u64,
}

impl Flushed {
    pub(crate) fn absorb(&mut self, o: Flushed) {
        self.adds.extend(o.adds);
        self.rollup.extend(o.rollup);
        self.ledger.extend(o.ledger);
        self.quarantined.extend(o.quarantined);
        self.files += o.files;
        self.events += o.events;
        self.bad_time += o.bad_time;
        self.not_object += o.not_object;
        self.bytes += o.bytes;
        self.inflated += o.inflated;
    }
}

enum LaneMsg {
    Jobs(Vec<(SourceObject, Payload)>),
    Flush(oneshot::Sender<Result<Flushed>>, Arc<Barrier>),
}

/// The queue every lane takes its work from.
type SharedQueue = Arc<Mutex<mpsc::Receiver<LaneMsg>>>;

/// Files are handed to the lanes in bundles of up to this many files...
const BUNDLE_FILES: usize = 64;
/// ...or this many bytes (a larger file goes alone). One message per file cost a thread
/// wake-up per file: with 85,000 files of 2 events each, the scheduler was a quarter of
/// the profile.
const BUNDLE_BYTES: u64 = 1 << 20;

/// Jobs submitted but not yet sent to the lanes.
#[derive(Default)]
struct Bundle {
    jobs: Vec<(SourceObject, Payload)>,
    bytes: u64,
}

/// The running lanes.
pub struct Lanes {
    sender: mpsc::Sender<LaneMsg>,
    threads: Vec<std::thread::JoinHandle<()>>,
    bundle: Mutex<Bundle>,
    pub counters: Arc<Counters>,
}

impl Lanes {
    /// Starts the lanes writing into `table` (the `cloudtrail` table of `lake`), adding
    /// what they do to `counters`.
    pub fn start(lake: &Lake, table: &DeltaTable, opts: &LaneOptions, counters: Arc<Counters>) -> Result<Lanes> {
        let handle = tokio::runtime::Handle::current();
        let lanes = opts.lanes.max(1);
        // Enough queued bundles to keep every lane busy while the fetchers catch up.
        let (sender, rx) = mpsc::channel(2 * lanes);
        let queue: SharedQueue = Arc::new(Mutex::new(rx));
        let mut threads = vec![];
        for i in 0..lanes {
            let lane = Lane {
                queue: queue.clone(),
                writer: lake.writer(table)?,
                lake: lake.clone(),
                handle: handle.clone(),
                counters: counters.clone(),
                decoder: FileDecoder::new(opts.max_inflated).with_hashing(opts.hash_files),
                builder: EventBatchBuilder::new(opts.batch_rows),
                batch_rows: opts.batch_rows,
                max_open_dates: opts.max_open_dates.max(1),
                open_dates: HashSet::new(),
                out: Flushed::default(),
                rollup: RollupBuilder::new(),
                read_buf: Vec::new(),
                failed: None,
            };
            // The lanes log inside the caller's span (a backfill's run).
            let span = tracing::Span::current();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ingest-lane-{i}"))
                    .spawn(move || span.in_scope(|| lane.run()))
                    .map_err(|e| IngestError::Config(format!("cannot start a lane thread: {e}")))?,
            );
        }
        Ok(Lanes { sender, threads, bundle: Mutex::new(Bundle::default()), counters })
    }

    /// Hands one file to the lanes (waits while the queue is full). Files travel in
    /// bundles; [`flush`](Self::flush) sends a partial one, so everything submitted before
    /// a flush is in it.
    pub async fn submit(&self, obj: SourceObject, payload: Payload) -> Result<()> {
        let size = match &payload {
            Payload::Fetched(data) => data.len() as u64,
            Payload::LocalFile => obj.size.max(0) as u64,
            Payload::Refused { raw, .. } => raw.len() as u64,
        };
        let full = {
            let mut b = self.bundle.lock().unwrap_or_else(|p| p.into_inner());
            b.jobs.push((obj, payload));
            b.bytes += size;
            (b.jobs.len() >= BUNDLE_FILES || b.bytes >= BUNDLE_BYTES).then(|| std::mem::take(&mut *b))
        };
        match full {
            Some(bundle) => self.send(LaneMsg::Jobs(bundle.jobs)).await,
            None => Ok(()),
        }
    }

    /// Sends the partial bundle, if any.
    async fn send_bundle(&self) -> Result<()> {
        let bundle = std::mem::take(&mut *self.bundle.lock().unwrap_or_else(|p| p.into_inner()));
        if bundle.jobs.is_empty() {
            return Ok(());
        }
        self.send(LaneMsg::Jobs(bundle.jobs)).await
    }

    async fn send(&self, msg: LaneMsg) -> Result<()> {
        self.sender.send(msg).await.map_err(|_| IngestError::Config("an ingest lane stopped".into()))
    }

    /// Closes every lane's open files: everything submitted before is in the result.
    pub async fn flush(&self) -> Result<Flushed> {
        self.send_bundle().await?;
        let barrier = Arc::new(Barrier::new(self.threads.len()));
        let mut waits = vec![];
        for _ in &self.threads {
            let (tx, rx) = oneshot::channel();
            self.send(LaneMsg::Flush(tx, barrier.clone())).await?;
            waits.push(rx);
        }
        let mut all = Flushed::default();
        let mut first_err = None;
        for w in waits {
            match w.await {
                Ok(Ok(f)) => all.absorb(f),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(IngestError::Config("an ingest lane panicked".into()));
                }
            }
        }
        self.counters.pending_inflated.store(0, Ordering::Relaxed);
        match first_err {
            Some(e) => Err(e),
            None => Ok(all),
        }
    }

    /// Stops the lanes (after a final flush, or to abandon their uncommitted files).
    pub async fn stop(self) {
        drop(self.sender);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

struct Lane {
    queue: SharedQueue,
    writer: RecordBatchWriter,
    lake: Lake,
    handle: tokio::runtime::Handle,
    counters: Arc<Counters>,
    decoder: FileDecoder,
    builder: EventBatchBuilder,
    batch_rows: usize,
    max_open_dates: usize,
    /// Event dates (partitions) written since the lane last closed its files.
    open_dates: HashSet<Option<i32>>,
    out: Flushed,
    /// The hourly rollup of the events written since its rows were last written out.
    rollup: RollupBuilder,
    /// Reused buffer for local files.
    read_buf: Vec<u8>,
    /// A lake write failed: jobs are dropped until the next flush reports it.
    failed: Option<IngestError>,
}

impl Lane {
    fn run(mut self) {
        loop {
            // The lock is held only while waiting for the next message, never while working.
            let msg = match self.queue.lock() {
                Ok(mut rx) => rx.blocking_recv(),
                Err(_) => None,
            };
            let Some(msg) = msg else { return };
            match msg {
                LaneMsg::Jobs(jobs) => {
                    for (obj, data) in jobs {
                        if self.failed.is_some() {
                            break;
                        }
                        // A panic (a bug) fails this flush window, not the lane: the other
                        // lanes wait for every lane at a flush's barrier.
                        let r = std::panic::catch_unwind(AssertUnwindSafe(|| self.process(obj, data)))
                            .unwrap_or_else(|_| Err(IngestError::Config("an ingest lane panicked".into())));
                        if let Err(e) = r {
                            self.failed = Some(e);
                        }
                    }
                }
                LaneMsg::Flush(reply, barrier) => {
                    let result = match self.failed.take() {
                        Some(e) => Err(e),
                        None => std::panic::catch_unwind(AssertUnwindSafe(|| self.flush()))
                            .unwrap_or_else(|_| Err(IngestError::Config("an ingest lane panicked".into()))),
                    };
                    if result.is_err() {
                        self.open_dates.clear();
                        self.writer.reset();
                        self.builder = EventBatchBuilder::new(self.batch_rows);
                        self.out = Flushed::default();
                        self.rollup = RollupBuilder::new();
                    }
                    let _ = reply.send(result);
                    // Take no further message until every lane has taken its flush.
                    barrier.wait();
                }
            }
        }
    }

    /// Streams one batch into the lake. A batch of one event date (the usual case: a run
    /// of files from the same day) goes straight to that partition's file; delta-rs's
    /// generic path would copy every column to split it by date.
    fn write_batch(&mut self, batch: RecordBatch) -> Result<()> {
        note_dates(&batch, &mut self.open_dates);
        self.rollup.add_events(&batch).map_err(|e| IngestError::Config(format!("rollup: {e}")))?;
        if self.rollup.rows() >= self.lake.options().rollup_spill_rows {
            self.write_rollup()?;
        }
        let result = match single_partition(&batch) {
            Some(values) => {
                self.handle.block_on(self.writer.write_partition(batch, &values, WriteMode::Default)).map(|_| ())
            }
            None => self.handle.block_on(self.writer.write(batch)),
        };
        result.map_err(|e| self.lake_err(e))?;
        if self.open_dates.len() > self.max_open_dates {
            // Close every open file now; their adds join this flush window's commit.
            tracing::debug!(dates = self.open_dates.len(), "Lane closes its files (too many event dates open).");
            let adds = self.handle.block_on(self.writer.flush()).map_err(|e| self.lake_err(e))?;
            self.out.adds.extend(adds);
            self.open_dates.clear();
        }
        Ok(())
    }

    fn lake_err(&self, e: deltalake::DeltaTableError) -> IngestError {
        IngestError::Lake(LakeError::delta(self.lake.location())(e))
    }

    fn process(&mut self, obj: SourceObject, payload: Payload) -> Result<()> {
        let mut buf = std::mem::take(&mut self.read_buf);
        let result = match &payload {
            Payload::Fetched(data) => self.process_bytes(&obj, data),
            Payload::LocalFile => {
                read_into(&obj.uri, obj.size.max(0) as usize, &mut buf).and_then(|()| self.process_bytes(&obj, &buf))
            }
            Payload::Refused { raw, error, retry } => {
                let mut entry = self.entry(&obj, raw.len() as u64);
                self.quarantine(&obj, &mut entry, raw, error.clone()).and_then(|()| match retry {
                    false => self.done(entry),
                    true => {
                        Counters::add(&self.counters.files_read, 1);
                        Ok(())
                    }
                })
            }
        };
        self.read_buf = buf;
        result
    }

    /// The ledger row of a file of `size` bytes read (counted as read).
    fn entry(&mut self, obj: &SourceObject, size: u64) -> LedgerEntry {
        self.out.bytes += size;
        Counters::add(&self.counters.bytes_read, size);
        LedgerEntry {
            name: layout::canonical_name(&obj.key).to_string(),
            uri: obj.uri.clone(),
            size: obj.size,
            etag: obj.etag.clone(),
            events: 0,
            error: None,
            sha256: None,
            kind: Default::default(),
        }
    }

    /// Keeps a copy of a file that cannot be read, with why, in the lake's quarantine.
    fn quarantine(&mut self, obj: &SourceObject, entry: &mut LedgerEntry, data: &Bytes, error: String) -> Result<()> {
        self.counters.emit(FileQuarantined { uri: &obj.uri, error: &error });
        let to = self.handle.block_on(self.lake.quarantine(&entry.name, &obj.uri, data.clone(), &error))?;
        self.out.quarantined.push(QuarantinedFile {
            source: obj.uri.clone(),
            error: error.clone(),
            quarantined_to: to,
        });
        entry.error = Some(error);
        Ok(())
    }

    /// Records a file as done (its ledger row), and writes a batch when one is full.
    fn done(&mut self, entry: LedgerEntry) -> Result<()> {
        self.out.ledger.push(entry);
        Counters::add(&self.counters.files_read, 1);
        if self.builder.len() >= self.batch_rows {
            let batch = self.builder.finish();
            self.write_batch(batch)?;
        }
        Ok(())
    }

    fn process_bytes(&mut self, obj: &SourceObject, data: &[u8]) -> Result<()> {
        let mut entry = self.entry(obj, data.len() as u64);
        let decoded = self.decoder.decode(data, &obj.uri, &mut self.builder);
        entry.sha256 = self.decoder.last_sha256().map(|h| integrity::hex(&h));
        match decoded {
            Ok(decoded) => {
                let c = decoded.counts;
                self.out.files += 1;
                self.out.events += c.events;
                self.out.bad_time += c.bad_time;
                self.out.not_object += c.not_object;
                self.out.inflated += decoded.inflated_bytes;
                self.counters.emit(FileDecoded {
                    uri: &obj.uri,
                    events: c.events,
                    inflated_bytes: decoded.inflated_bytes,
                });
                entry.events = c.events as i64;
            }
            Err(e) => self.quarantine(obj, &mut entry, &Bytes::copy_from_slice(data), e.to_string())?,
        }
        self.done(entry)
    }

    fn flush(&mut self) -> Result<Flushed> {
        if !self.builder.is_empty() {
            let batch = self.builder.finish();
            self.write_batch(batch)?;
        }
        let adds = self.handle.block_on(self.writer.flush()).map_err(|e| self.lake_err(e))?;
        self.open_dates.clear();
        // Each lane writes its own rollup rows, in parallel with the others, rather than
        // merging them into one builder written on the commit path. The same key in two
        // lanes' files is two rows; readers sum them and compaction folds them.
        self.write_rollup()?;
        let mut out = std::mem::take(&mut self.out);
        out.adds.extend(adds);
        Ok(out)
    }

    /// Writes out the rollup rows built so far (their files join this flush window's).
    fn write_rollup(&mut self) -> Result<()> {
        let full = std::mem::take(&mut self.rollup);
        let written = self.handle.block_on(self.lake.write_rollup(full))?;
        self.out.rollup.extend(written);
        Ok(())
    }
}

/// The partition values of `batch` when all its rows share one non-null event date.
fn single_partition<S: ScalarExt>(batch: &RecordBatch) -> Option<IndexMap<String, S>> {
    let col = single_date(batch)?;
    let value = S::from_array(col.as_ref(), 0)?;
    Some(IndexMap::from([(schema::EVENT_DATE.to_string(), value)]))
}

/// The `eventdate` column of `batch` when it holds one non-null date throughout.
fn single_date(batch: &RecordBatch) -> Option<&arrow::array::ArrayRef> {
    let col = batch.column_by_name(schema::EVENT_DATE)?;
    let dates = col.as_primitive_opt::<Date32Type>()?;
    if dates.is_empty() || dates.null_count() > 0 {
        return None;
    }
    let first = dates.value(0);
    dates.values().iter().all(|d| *d == first).then_some(col)
}

/// Adds the event dates of `batch` (null: the partition of events without a time) to `dates`.
fn note_dates(batch: &RecordBatch, dates: &mut HashSet<Option<i32>>) {
    let Some(col) = batch.column_by_name(schema::EVENT_DATE).and_then(|c| c.as_primitive_opt::<Date32Type>()) else {
        return;
    };
    let mut last = None;
    for d in col.iter() {
        if last != Some(d) {
            dates.insert(d);
            last = Some(d);
        }
    }
}

/// Reads a whole local file, of about `size` bytes (the listing's), into `buf` (cleared
/// first). `File::read_to_end` would ask the kernel for the size again (statx and lseek,
/// two of the five system calls per file); reading through `Take` with room for `size`
/// bytes reads to the end without them.
fn read_into(path: &str, size: usize, buf: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    buf.clear();
    buf.reserve(size.saturating_add(1));
    std::fs::File::open(path)
        .and_then(|mut f| (&mut f).take(u64::MAX).read_to_end(buf))
        .map(|_| ())
        .map_err(|cause| IngestError::Io { path: path.to_string(), cause })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Date32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn dates(values: Vec<Option<i32>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(schema::EVENT_DATE, DataType::Date32, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Date32Array::from(values))]).unwrap()
    }

    #[test]
    fn only_a_batch_of_one_non_null_date_skips_the_split_by_partition() {
        assert!(single_date(&dates(vec![Some(20_000); 3])).is_some());
        assert!(single_date(&dates(vec![Some(20_000), Some(20_001)])).is_none());
        assert!(single_date(&dates(vec![Some(20_000), None])).is_none());
        assert!(single_date(&dates(vec![])).is_none());
    }
}
