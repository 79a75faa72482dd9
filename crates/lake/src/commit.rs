//! How a run commits, so that every source object is in the lake exactly once.
//!
//! Data files are streamed to the table folder (invisible until committed). The run's
//! ledger rows are written as one Parquet file of the ledger table, not yet committed.
//! Then a single `cloudtrail` commit adds every data file and carries the ledger file's
//! `add` action in its commit info; finally the ledger table commits that file. A crash
//! before the `cloudtrail` commit leaves nothing visible; a crash between the two commits
//! is repaired by [`Lake::known_sources`] (and before every compaction), which re-commits
//! the ledger file of each recent `cloudtrail` commit whose run id the ledger's rows lack.
//!
//! Every commit adds each file once, however its attempts fail: a failed attempt is
//! followed by a read of the log for the files it carried ([`commit_adds`]). A commit
//! whose answer was lost, one that timed out after it landed, and a ledger file repaired by
//! another process while its own writer was committing it are each in the table once,
//! even when a compaction removed the files in between.

use std::collections::{HashMap, HashSet};

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::DeltaWriter;
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde_json::Value;

use arrow::array::AsArray;

use crate::ledger::{LedgerEntry, ledger_batch};
use crate::rollup::ROLLUPS_TABLE;
use crate::snapshot::read_table;
use crate::{CLOUDTRAIL_TABLE, LEDGER_TABLE, Lake, LakeError, Result};

const META_RUN_ID: &str = "trailhouse.runId";
const META_LEDGER_ADD: &str = "trailhouse.ledgerAdd";
const META_ROLLUP_ADD: &str = "trailhouse.rollupAdd";
/// The runs a repair commit of the rollup re-committed.
const META_RUN_IDS: &str = "trailhouse.runIds";
/// Marks a rollup commit that replaced files by folding or rebuilding them
/// ([`crate::compact`]): every run committed to `cloudtrail` before it is in the rollup.
pub(crate) const META_ROLLUP_FOLD: &str = "trailhouse.rollupFold";
/// How many recent `cloudtrail` commits are checked for a ledger file left uncommitted.
const LEDGER_REPAIR_DEPTH: usize = 200;

impl Lake {
    /// Commits one run: the data files, then the ledger entries and the run's rollup files
    /// (written by [`Lake::write_rollup`], [`crate::rollup`]). Returns the `cloudtrail`
    /// version that holds the run (or the current one when it added no data).
    pub async fn commit_run(
        &self,
        cloudtrail: &mut DeltaTable,
        adds: Vec<Add>,
        ledger: &[LedgerEntry],
        rollup: Vec<Add>,
        run_id: &str,
    ) -> Result<u64> {
        let err = LakeError::delta(&self.location);
        let mut ledger_table = self.table(LEDGER_TABLE).await?;
        let ledger_adds = if ledger.is_empty() {
            vec![]
        } else {
            let mut w = self.writer(&ledger_table)?;
            w.write(ledger_batch(ledger, run_id)).await.map_err(&err)?;
            let adds = w.flush().await.map_err(&err)?;
            crate::failpoint::hit("lake.ledger-written");
            adds
        };
        // A rollup without events would be ahead of them.
        let rollup_adds = if adds.is_empty() { vec![] } else { rollup };
        let mut version = cloudtrail.version().unwrap_or(0);
        if !adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            let json = |adds: &[Add]| {
                serde_json::to_value(adds)
                    .map_err(|e| LakeError::state(&self.location, format!("cannot serialise a file's add: {e}")))
            };
            meta.insert(META_LEDGER_ADD.to_string(), json(&ledger_adds)?);
            meta.insert(META_ROLLUP_ADD.to_string(), json(&rollup_adds)?);
            version = commit_adds(cloudtrail, adds, meta).await.map_err(&err)?;
            crate::failpoint::hit("lake.events-committed");
        }
        if !ledger_adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            commit_adds(&mut ledger_table, ledger_adds, meta).await.map_err(&err)?;
            crate::failpoint::hit("lake.ledger-committed");
        }
        if !rollup_adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            let mut rollups = self.table(ROLLUPS_TABLE).await?;
            commit_adds(&mut rollups, rollup_adds, meta).await.map_err(&err)?;
            crate::failpoint::hit("lake.rollup-committed");
        }
        Ok(version)
    }

    /// Re-commits the ledger file of each recent `cloudtrail` commit whose run has no rows
    /// in the ledger.
    ///
    /// A run is identified by its id (a fresh one per commit), which the `cloudtrail`
    /// commit records and every ledger row of the run carries: rows outlive the files that
    /// first held them, so a compaction (which rewrites the ledger's files into new ones)
    /// does not make a committed run look missing. Comparing file paths did, and re-added
    /// the compacted-away files: duplicate rows, then, once vacuumed, a ledger that could
    /// not be read.
    pub(crate) async fn repair_ledger(&self) -> Result<()> {
        let err = LakeError::delta(&self.location);
        let cloudtrail = self.table(CLOUDTRAIL_TABLE).await?;
        // run id -> (the ledger files it wrote, when it committed, in ms)
        let mut runs: HashMap<String, (Vec<Add>, i64)> = HashMap::new();
        // run id -> (the rollup files it wrote, when it committed, in ms)
        let mut rollup_runs: HashMap<String, (Vec<Add>, i64)> = HashMap::new();
        let mut history = cloudtrail.history(Some(LEDGER_REPAIR_DEPTH));
        let adds_of = |info: &deltalake::kernel::CommitInfo, key: &str| {
            info.info.get(key).and_then(|v| serde_json::from_value::<Vec<Add>>(v.clone()).ok())
        };
        while let Some(info) = history.next().await {
            let info = info.map_err(&err)?;
            let Some(run) = info.info.get(META_RUN_ID).and_then(Value::as_str) else { continue };
            let ts = info.timestamp.unwrap_or(0);
            if let Some(adds) = adds_of(&info, META_LEDGER_ADD).filter(|a| !a.is_empty()) {
                runs.insert(run.to_string(), (adds, ts));
            }
            if let Some(adds) = adds_of(&info, META_ROLLUP_ADD).filter(|a| !a.is_empty()) {
                rollup_runs.insert(run.to_string(), (adds, ts));
            }
        }
        drop(history);
        self.repair_rollups(rollup_runs).await?;
        if runs.is_empty() {
            return Ok(());
        }
        let mut ledger = self.table(LEDGER_TABLE).await?;
        let oldest = runs.values().map(|(_, ts)| *ts).min().unwrap_or(0);
        let recorded = ledger_runs(&ledger, runs.keys(), oldest).await?;
        let mut missing: Vec<Add> = vec![];
        for (run, (adds, _)) in runs {
            if recorded.contains(&run) {
                continue;
            }
            // A file vacuumed before it was committed cannot come back: re-adding it would
            // leave the ledger unreadable. Its log files will be read again.
            missing.extend(self.still_there(&ledger, &run, adds, "its log files will be read again").await?);
        }
        if !missing.is_empty() {
            tracing::warn!(files = missing.len(), "Repairing the ledger after an interrupted run.");
            commit_adds(&mut ledger, missing, HashMap::new()).await.map_err(&err)?;
        }
        Ok(())
    }

    /// The files among `adds` that are still in `table`'s folder.
    async fn still_there(&self, table: &DeltaTable, run: &str, adds: Vec<Add>, if_gone: &str) -> Result<Vec<Add>> {
        let mut there = vec![];
        for add in adds {
            match table.object_store().head(&add.path.as_str().into()).await {
                Ok(_) => there.push(add),
                Err(object_store::Error::NotFound { .. }) => {
                    tracing::error!(run, file = add.path, "A file to repair is gone; {if_gone}.")
                }
                // Cannot tell (a 503, a timeout): try again on the next run, repair nothing now.
                Err(e) => return Err(LakeError::state(&self.location, format!("file {}: {e}", add.path))),
            }
        }
        Ok(there)
    }

    /// Re-commits the rollup files of each recent run whose rollup commit is missing: those
    /// whose run id no rollup commit since the last fold records. Runs committed before the
    /// last fold are in the rollup (a fold repairs first, then rebuilds any day whose counts
    /// disagree).
    async fn repair_rollups(&self, runs: HashMap<String, (Vec<Add>, i64)>) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let err = LakeError::delta(&self.location);
        let mut rollups = self.rollup_table().await?;
        let mut recorded: HashSet<String> = HashSet::new();
        let mut folded_at = i64::MIN;
        let mut history = rollups.history(Some(LEDGER_REPAIR_DEPTH * 2));
        while let Some(info) = history.next().await {
            let info = info.map_err(&err)?;
            if info.info.contains_key(META_ROLLUP_FOLD) {
                folded_at = folded_at.max(info.timestamp.unwrap_or(0));
            }
            if let Some(run) = info.info.get(META_RUN_ID).and_then(Value::as_str) {
                recorded.insert(run.to_string());
            }
            let repaired = info.info.get(META_RUN_IDS).and_then(Value::as_array).into_iter().flatten();
            recorded.extend(repaired.filter_map(Value::as_str).map(str::to_string));
        }
        drop(history);
        let (mut missing, mut repaired) = (vec![], vec![]);
        for (run, (adds, ts)) in runs {
            if recorded.contains(&run) || ts < folded_at {
                continue;
            }
            missing.extend(self.still_there(&rollups, &run, adds, "compaction rebuilds its day").await?);
            repaired.push(Value::String(run));
        }
        if !missing.is_empty() {
            tracing::warn!(files = missing.len(), "Repairing the rollup after an interrupted run.");
            let meta = HashMap::from([(META_RUN_IDS.to_string(), Value::Array(repaired))]);
            commit_adds(&mut rollups, missing, meta).await.map_err(&err)?;
        }
        Ok(())
    }
}

/// Which of `runs` have rows in the ledger. Rows are written just before their run's
/// `cloudtrail` commit (same clock), so none of them predates the oldest commit by a day:
/// that bound lets the scan skip older files by their statistics.
async fn ledger_runs<'a>(
    ledger: &DeltaTable,
    runs: impl Iterator<Item = &'a String>,
    oldest_commit_ms: i64,
) -> Result<HashSet<String>> {
    let list: Vec<String> = runs.map(|r| format!("'{}'", r.replace('\'', "''"))).collect();
    let since = crate::time::format_canonical((oldest_commit_ms - 86_400_000) * 1000);
    let sql = format!(
        "SELECT DISTINCT run_id FROM t WHERE ingested_at >= TIMESTAMP '{since}' AND run_id IN ({})",
        list.join(", ")
    );
    let mut found = HashSet::new();
    for batch in read_table(ledger, &sql).await? {
        let ids = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(|e| LakeError::state(ledger.table_url().as_str(), format!("ledger column run_id: {e}")))?;
        let ids = ids.as_string::<i32>();
        found.extend(ids.iter().flatten().map(str::to_string));
    }
    Ok(found)
}

/// Attempts at one commit whose log write failed in a way that may pass (a 5xx after the
/// object store's own retries, a timeout), a second apart and more, before its error is
/// returned.
const TRANSIENT_ATTEMPTS: u32 = 6;
/// Attempts at one commit while other writers keep taking the next version.
const RACE_ATTEMPTS: u32 = 100;

/// How a failed commit attempt failed.
#[derive(Debug, PartialEq, Eq)]
enum Failed {
    /// Another commit holds the version: perhaps this one's, on an earlier attempt.
    Taken,
    /// The log write failed in a way that may pass, and may have landed.
    Transient,
    /// Anything else: stop.
    Fatal,
}

fn failed(e: &DeltaTableError) -> Failed {
    use deltalake::kernel::transaction::TransactionError;
    match e {
        DeltaTableError::VersionAlreadyExists(_)
        | DeltaTableError::Transaction { source: TransactionError::MaxCommitAttempts(_) } => Failed::Taken,
        DeltaTableError::ObjectStore { source } => {
            match crate::failure::explain_text(&source.to_string(), "commit", "the Delta log") {
                Some(f) if f.kind.is_permanent() => Failed::Fatal,
                _ => Failed::Transient,
            }
        }
        _ => Failed::Fatal,
    }
}

/// One append commit of files already written, each file added once.
///
/// Two things make a plain retried commit add a file twice. delta-rs, when the version it
/// wrote is taken, commits the same actions again at the next one. That is wrong when the
/// commit that took it was its own: on S3 a conditional PUT whose answer was lost is
/// retried by the object store, finds its own write, and fails as if it had lost a race
/// (and a log write that timed out is not retried at all, though it may have landed). And
/// a ledger file can be committed by another process's repair ([`Lake::repair_ledger`],
/// which every compaction runs) between its run's two commits. A second `add` of a path
/// the table has is harmless, but if a compaction removed the file in between, it comes
/// back beside its compacted copy and its rows count twice.
///
/// So delta-rs's retries are off (an attempt then commits at its snapshot's next version
/// or not at all), and after a failed attempt the versions committed since the first
/// attempt's snapshot are read: the files some commit there added are dropped (data files
/// have fresh UUID names, so that commit was this one, or a repair of it), and the rest,
/// if any, are committed on the newer snapshot. A schema or protocol change stops the
/// commit, as delta-rs's conflict check would (the files were written for the old one).
/// An append reads nothing, so no other commit conflicts with it. Returns the version
/// that holds the files (the last, when several do).
pub(crate) async fn commit_adds(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    app_metadata: HashMap<String, Value>,
) -> Result<u64, DeltaTableError> {
    let mut adds = adds;
    let mut read_to = table.version().unwrap_or(0);
    let mut holds = None;
    let (mut taken, mut transient) = (0, 0);
    while !adds.is_empty() {
        let snapshot = table.snapshot()?.clone();
        let partition_cols: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!partition_cols.is_empty()).then_some(partition_cols),
            predicate: None,
        };
        let attempt = CommitBuilder::from(CommitProperties::default().with_max_retries(0))
            .with_actions(adds.iter().cloned().map(Action::Add).collect())
            .with_app_metadata(app_metadata.clone())
            .build(Some(&snapshot), table.log_store(), operation)
            .await;
        let error = match attempt {
            Ok(done) => {
                let version = done.version();
                if let Err(e) = table.update_state().await {
                    // The commit stands; the next one reads the log again.
                    tracing::warn!(version, error = %e, "Committed, but could not re-read the table.");
                }
                return Ok(version);
            }
            Err(e) => e,
        };
        let kind = failed(&error);
        if kind == Failed::Fatal {
            return Err(error);
        }
        match added_since(table, read_to, &adds).await {
            Ok(found) => {
                read_to = found.read_to;
                if !found.paths.is_empty() {
                    tracing::info!(error = %error, files = found.paths.len(), version = found.version,
                        "Files of a commit that reported a failure are in the table already.");
                    adds.retain(|a| !found.paths.contains(&a.path));
                    holds = holds.max(found.version);
                }
                if adds.is_empty() {
                    break;
                }
                if let Some(version) = found.changed {
                    return Err(DeltaTableError::Generic(format!(
                        "the table's schema or protocol changed at version {version} while files were \
                         being committed; they stay uncommitted and their source will be read again"
                    )));
                }
                if kind == Failed::Taken || !found.paths.is_empty() {
                    taken += 1;
                    if taken >= RACE_ATTEMPTS {
                        return Err(error);
                    }
                    continue;
                }
            }
            // The log could not be read either: wait as for a failed write.
            Err(e) => tracing::debug!(error = %e, "Could not read the log after a failed commit."),
        }
        transient += 1;
        if transient >= TRANSIENT_ATTEMPTS {
            return Err(error);
        }
        let wait = std::time::Duration::from_millis(500 << transient.min(4));
        tracing::warn!(error = %error, retry_in_ms = wait.as_millis() as u64, "A commit failed; trying again.");
        tokio::time::sleep(wait).await;
    }
    Ok(holds.unwrap_or_else(|| table.version().unwrap_or(0)))
}

/// What the log says after a failed commit.
struct Found {
    /// Which of the commit's files some version added.
    paths: HashSet<String>,
    /// The last version that added one.
    version: Option<u64>,
    /// A version that changed the schema or protocol.
    changed: Option<u64>,
    /// The last version read.
    read_to: u64,
}

/// Reads the log after version `after` to its end for versions adding any of `adds`.
async fn added_since(table: &mut DeltaTable, after: u64, adds: &[Add]) -> Result<Found, DeltaTableError> {
    table.update_state().await?;
    let ours: HashSet<&str> = adds.iter().map(|a| a.path.as_str()).collect();
    let latest = table.version().unwrap_or(after);
    let mut found = Found { paths: HashSet::new(), version: None, changed: None, read_to: latest };
    for version in after + 1..=latest {
        let Some(entry) = table.log_store().read_commit_entry(version).await? else { continue };
        for line in entry.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(action) = serde_json::from_slice::<Value>(line) else { continue };
            if let Some(path) = action.pointer("/add/path").and_then(Value::as_str)
                && ours.contains(path)
            {
                found.paths.insert(path.to_string());
                found.version = Some(version);
            } else if found.changed.is_none() && (action.get("metaData").is_some() || action.get("protocol").is_some())
            {
                found.changed = Some(version);
            }
        }
    }
    Ok(found)
}
