//! How a run commits, so that every source object is in the lake exactly once.
//!
//! Data files are streamed to the table folder (invisible until committed). The run's
//! ledger rows are written as one Parquet file of the ledger table, not yet committed.
//! Then a single `cloudtrail` commit adds every data file and carries the ledger file's
//! `add` action in its commit info; finally the ledger table commits that file. A crash
//! before the `cloudtrail` commit leaves nothing visible; a crash between the two commits
//! is repaired by [`Lake::known_sources`] (and before every compaction), which re-commits
//! the ledger file of each recent `cloudtrail` commit whose run id the ledger's rows lack.

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
use crate::snapshot::read_table;
use crate::{CLOUDTRAIL_TABLE, LEDGER_TABLE, Lake, LakeError, Result};

const META_RUN_ID: &str = "trailhouse.runId";
const META_LEDGER_ADD: &str = "trailhouse.ledgerAdd";
/// How many recent `cloudtrail` commits are checked for a ledger file left uncommitted.
const LEDGER_REPAIR_DEPTH: usize = 200;

impl Lake {
    /// Commits one run: the data files, then the ledger entries. Returns the `cloudtrail`
    /// version that holds the run (or the current one when it added no data).
    pub async fn commit_run(
        &self,
        cloudtrail: &mut DeltaTable,
        adds: Vec<Add>,
        ledger: &[LedgerEntry],
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
        let mut version = cloudtrail.version().unwrap_or(0);
        if !adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            let ledger_json = serde_json::to_value(&ledger_adds)
                .map_err(|e| LakeError::state(&self.location, format!("cannot serialise the ledger add: {e}")))?;
            meta.insert(META_LEDGER_ADD.to_string(), ledger_json);
            version = commit_adds(cloudtrail, adds, meta).await.map_err(&err)?;
            crate::failpoint::hit("lake.events-committed");
        }
        if !ledger_adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            commit_adds(&mut ledger_table, ledger_adds, meta).await.map_err(&err)?;
            crate::failpoint::hit("lake.ledger-committed");
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
        let mut history = cloudtrail.history(Some(LEDGER_REPAIR_DEPTH));
        while let Some(info) = history.next().await {
            let info = info.map_err(&err)?;
            let run = info.info.get(META_RUN_ID).and_then(Value::as_str);
            let adds = info.info.get(META_LEDGER_ADD).and_then(|v| serde_json::from_value::<Vec<Add>>(v.clone()).ok());
            if let (Some(run), Some(adds)) = (run, adds)
                && !adds.is_empty()
            {
                runs.insert(run.to_string(), (adds, info.timestamp.unwrap_or(0)));
            }
        }
        drop(history);
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
            for add in adds {
                // A file vacuumed before it was committed cannot come back: re-adding it
                // would leave the ledger unreadable. Its log files will be read again.
                match ledger.object_store().head(&add.path.as_str().into()).await {
                    Ok(_) => missing.push(add),
                    Err(object_store::Error::NotFound { .. }) => {
                        tracing::error!(
                            run,
                            file = add.path,
                            "A ledger file to repair is gone; its log files will be read again."
                        )
                    }
                    // Cannot tell (a 503, a timeout): try again on the next run, repair nothing now.
                    Err(e) => return Err(LakeError::state(&self.location, format!("ledger file {}: {e}", add.path))),
                }
            }
        }
        if !missing.is_empty() {
            tracing::warn!(files = missing.len(), "Repairing the ledger after an interrupted run.");
            commit_adds(&mut ledger, missing, HashMap::new()).await.map_err(&err)?;
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

/// One append commit of files already written, retried against concurrent appends.
async fn commit_adds(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    app_metadata: HashMap<String, Value>,
) -> Result<u64, DeltaTableError> {
    let snapshot = table.snapshot()?.clone();
    let partition_cols: Vec<String> = snapshot.metadata().partition_columns().to_vec();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: (!partition_cols.is_empty()).then_some(partition_cols),
        predicate: None,
    };
    let finalized = CommitBuilder::from(CommitProperties::default().with_max_retries(50))
        .with_actions(adds.into_iter().map(Action::Add).collect())
        .with_app_metadata(app_metadata)
        .build(Some(&snapshot), table.log_store(), operation)
        .await?;
    let version = finalized.version();
    table.update_state().await?;
    Ok(version)
}
