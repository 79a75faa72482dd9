//! Decode/encode lanes: one thread per core, each inflating, parsing into Arrow and
//! encoding Parquet for the files it is handed, streaming data files into the lake. A
//! flush closes every lane's open files and returns their `add` actions and ledger
//! entries, ready for one commit. Both backfill and the SQS service run on this.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use deltalake::DeltaTable;
use deltalake::kernel::Add;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::decode::{EventBatchBuilder, FileDecoder};
use crate::lake::{Lake, LedgerEntry};
use crate::layout;
use crate::source::SourceObject;
use crate::{IngestError, Result};

/// Lane settings.
#[derive(Debug, Clone)]
pub struct LaneOptions {
    pub lanes: usize,
    /// Rows per Arrow batch handed to the Parquet writer.
    pub batch_rows: usize,
    /// Largest inflated file accepted, in bytes.
    pub max_inflated: usize,
}

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
    fn absorb(&mut self, o: Flushed) {
        self.adds.extend(o.adds);
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

/// Running totals, readable while the lanes work (progress, metrics).
#[derive(Debug, Default)]
pub struct LaneCounters {
    pub files: AtomicU64,
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    /// Inflated bytes since the last flush (for size-triggered flushes).
    pub pending_inflated: AtomicU64,
}

enum LaneMsg {
    Job(SourceObject, Bytes),
    Flush(oneshot::Sender<Result<Flushed>>),
}

/// The running lanes.
pub struct Lanes {
    senders: Vec<mpsc::Sender<LaneMsg>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: AtomicUsize,
    pub counters: Arc<LaneCounters>,
}

impl Lanes {
    /// Starts the lanes writing into `table` (the `cloudtrail` table of `lake`).
    pub fn start(lake: &Lake, table: &DeltaTable, opts: &LaneOptions) -> Result<Lanes> {
        let counters = Arc::new(LaneCounters::default());
        let handle = tokio::runtime::Handle::current();
        let mut senders = vec![];
        let mut threads = vec![];
        for i in 0..opts.lanes.max(1) {
            let (tx, rx) = mpsc::channel(4);
            let lane = Lane {
                rx,
                writer: lake.writer(table)?,
                lake: lake.clone(),
                handle: handle.clone(),
                counters: counters.clone(),
                decoder: FileDecoder::new(opts.max_inflated),
                builder: EventBatchBuilder::new(opts.batch_rows),
                batch_rows: opts.batch_rows,
                out: Flushed::default(),
                failed: None,
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("ingest-lane-{i}"))
                    .spawn(move || lane.run())
                    .map_err(|e| IngestError::Config(format!("cannot start a lane thread: {e}")))?,
            );
            senders.push(tx);
        }
        Ok(Lanes { senders, threads, next: AtomicUsize::new(0), counters })
    }

    /// Hands one fetched file to a lane (waits while every lane is busy).
    pub async fn submit(&self, obj: SourceObject, data: Bytes) -> Result<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        self.senders[i]
            .send(LaneMsg::Job(obj, data))
            .await
            .map_err(|_| IngestError::Config("an ingest lane stopped".into()))
    }

    /// Closes every lane's open files: everything submitted before is in the result.
    pub async fn flush(&self) -> Result<Flushed> {
        let mut waits = vec![];
        for s in &self.senders {
            let (tx, rx) = oneshot::channel();
            s.send(LaneMsg::Flush(tx))
                .await
                .map_err(|_| IngestError::Config("an ingest lane stopped".into()))?;
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
        drop(self.senders);
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
    rx: mpsc::Receiver<LaneMsg>,
    writer: RecordBatchWriter,
    lake: Lake,
    handle: tokio::runtime::Handle,
    counters: Arc<LaneCounters>,
    decoder: FileDecoder,
    builder: EventBatchBuilder,
    batch_rows: usize,
    out: Flushed,
    /// A lake write failed: jobs are dropped until the next flush reports it.
    failed: Option<IngestError>,
}

impl Lane {
    fn run(mut self) {
        while let Some(msg) = self.rx.blocking_recv() {
            match msg {
                LaneMsg::Job(obj, data) => {
                    if self.failed.is_none() {
                        if let Err(e) = self.process(obj, data) {
                            self.failed = Some(e);
                        }
                    }
                }
                LaneMsg::Flush(reply) => {
                    let result = match self.failed.take() {
                        Some(e) => {
                            self.writer.reset();
                            self.builder.finish();
                            self.out = Flushed::default();
                            Err(e)
                        }
                        None => self.flush(),
                    };
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn lake_err(&self, e: deltalake::DeltaTableError) -> IngestError {
        IngestError::Lake { location: self.lake.location().to_string(), source: Box::new(e) }
    }

    fn process(&mut self, obj: SourceObject, data: Bytes) -> Result<()> {
        let name = layout::canonical_name(&obj.key).to_string();
        let size = data.len() as u64;
        self.out.bytes += size;
        self.counters.bytes.fetch_add(size, Ordering::Relaxed);
        let mut entry = LedgerEntry { name, uri: obj.uri.clone(), size: obj.size, etag: obj.etag.clone(), events: 0, error: None };
        match self.decoder.decode(&data, &obj.uri, &mut self.builder) {
            Ok(decoded) => {
                let c = decoded.counts;
                self.out.files += 1;
                self.out.events += c.events;
                self.out.bad_time += c.bad_time;
                self.out.not_object += c.not_object;
                self.out.inflated += decoded.inflated_bytes;
                self.counters.events.fetch_add(c.events, Ordering::Relaxed);
                self.counters.pending_inflated.fetch_add(decoded.inflated_bytes, Ordering::Relaxed);
                tracing::debug!(source = %obj.uri, events = c.events, "File decoded.");
                entry.events = c.events as i64;
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(source = %obj.uri, error = %error, "File quarantined.");
                let to = self.handle.block_on(self.lake.quarantine(&entry.name, &obj.uri, data, &error))?;
                self.out.quarantined.push(QuarantinedFile { source: obj.uri.clone(), error: error.clone(), quarantined_to: to });
                entry.error = Some(error);
            }
        }
        self.out.ledger.push(entry);
        self.counters.files.fetch_add(1, Ordering::Relaxed);
        if self.builder.len() >= self.batch_rows {
            let batch = self.builder.finish();
            self.handle.block_on(self.writer.write(batch)).map_err(|e| self.lake_err(e))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Flushed> {
        if !self.builder.is_empty() {
            let batch = self.builder.finish();
            self.handle.block_on(self.writer.write(batch)).map_err(|e| self.lake_err(e))?;
        }
        let adds = self.handle.block_on(self.writer.flush()).map_err(|e| self.lake_err(e))?;
        let mut out = std::mem::take(&mut self.out);
        out.adds = adds;
        Ok(out)
    }
}
