//! How a run commits, so that every source object is in the lake exactly once.
//!
//! Data files are streamed to the table folder (invisible until committed). The run's
//! ledger rows are written as one Parquet file of the ledger table, not yet committed.
//! Then a single `cloudtrail` commit adds every data file and carries the ledger file's
//! `add` action in its commit info; finally the ledger table commits that file. A crash
//! before the `cloudtrail` commit leaves nothing visible; a crash between the two commits
//! is repaired by [`Lake::known_sources`], which re-commits ledger files named by recent
//! `cloudtrail` commits and missing from the ledger.

use std::collections::{HashMap, HashSet};

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::DeltaWriter;
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt;
use serde_json::Value;

use crate::ledger::{LedgerEntry, ledger_batch};
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
            w.flush().await.map_err(&err)?
        };
        let mut version = cloudtrail.version().unwrap_or(0);
        if !adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            let ledger_json = serde_json::to_value(&ledger_adds)
                .map_err(|e| LakeError::state(&self.location, format!("cannot serialise the ledger add: {e}")))?;
            meta.insert(META_LEDGER_ADD.to_string(), ledger_json);
            version = commit_adds(cloudtrail, adds, meta).await.map_err(&err)?;
        }
        if !ledger_adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            commit_adds(&mut ledger_table, ledger_adds, meta).await.map_err(&err)?;
        }
        Ok(version)
    }

    /// Re-commits ledger files that a `cloudtrail` commit names and the ledger lacks.
    pub(crate) async fn repair_ledger(&self) -> Result<()> {
        let err = LakeError::delta(&self.location);
        let cloudtrail = self.table(CLOUDTRAIL_TABLE).await?;
        let mut wanted: Vec<Add> = vec![];
        let mut history = cloudtrail.history(Some(LEDGER_REPAIR_DEPTH));
        while let Some(info) = history.next().await {
            let info = info.map_err(&err)?;
            if let Some(v) = info.info.get(META_LEDGER_ADD)
                && let Ok(adds) = serde_json::from_value::<Vec<Add>>(v.clone())
            {
                wanted.extend(adds);
            }
        }
        drop(history);
        if wanted.is_empty() {
            return Ok(());
        }
        let mut ledger = self.table(LEDGER_TABLE).await?;
        let present: HashSet<String> =
            ledger.snapshot().map_err(&err)?.log_data().into_iter().map(|a| a.path().to_string()).collect();
        let missing: Vec<Add> = wanted.into_iter().filter(|a| !present.contains(&a.path)).collect();
        if !missing.is_empty() {
            tracing::warn!(files = missing.len(), "Repairing the ledger after an interrupted run.");
            commit_adds(&mut ledger, missing, HashMap::new()).await.map_err(&err)?;
        }
        Ok(())
    }
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
