//! One commit window, the step backfill's commits and the service's windows share: the
//! digests' integrity rows, then the events' data files with every ledger row (the log
//! files' and the digests'), in the order that keeps a crash anywhere safe.
//!
//! - The `integrity` rows are appended first: a crash before the ledger commit leaves the
//!   digests unrecorded in the ledger, so the next run checks them again (a second row for
//!   the same digest; readers take the newest).
//! - Then one `cloudtrail` commit whose commit info carries the run id, its ledger file and
//!   its rollup files, then the ledger and rollup commits ([`lake::Lake::commit_run`]): a crash between the two is repaired
//!   by the next run, which knows a committed run by its id.
//!
//! What comes before (checking the digests, a clash with another ingester) and after
//! (deleting SQS messages, counting) stays with the caller.

use deltalake::DeltaTable;
use deltalake::kernel::Add;
use lake::{DigestCheck, Lake, LedgerEntry};

use crate::Result;

/// What one commit hands the lake.
#[derive(Debug, Default)]
pub struct Window {
    /// Data files the lanes wrote (not yet in any commit).
    pub adds: Vec<Add>,
    /// The hourly rollup files of those files' events (written, not committed).
    pub rollup: Vec<Add>,
    /// Ledger rows: each log file's, and each checked digest's (with its listed files').
    pub ledger: Vec<LedgerEntry>,
    /// The digests checked, as rows of the `integrity` table.
    pub digests: Vec<DigestCheck>,
}

/// What a committed window amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The `cloudtrail` table's version after the commit.
    pub version: u64,
    pub run_id: String,
    pub digests_checked: u64,
    pub digests_with_problems: u64,
}

impl Window {
    /// Records the digests, then commits the data files and the ledger rows. The data files
    /// are taken (they are in the lake now); the ledger rows stay for the caller to note.
    ///
    /// Its log lines (retries of a conflicting commit among them) carry a `commit` span with
    /// the run id the ledger rows and integrity rows record.
    pub async fn commit(&mut self, lake: &Lake, cloudtrail: &mut DeltaTable) -> Result<Committed> {
        use tracing::Instrument;
        let run_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("commit", run = %run_id, files = self.ledger.len());
        async {
            if !self.adds.is_empty() {
                lake::failpoint::hit("ingest.data-written");
            }
            lake.record_digests(&self.digests, &run_id).await?;
            if !self.digests.is_empty() {
                lake::failpoint::hit("ingest.integrity-recorded");
            }
            let version = lake
                .commit_run(
                    cloudtrail,
                    std::mem::take(&mut self.adds),
                    &self.ledger,
                    std::mem::take(&mut self.rollup),
                    &run_id,
                )
                .await?;
            tracing::debug!(version, digests = self.digests.len(), "Window committed.");
            Ok(Committed {
                version,
                run_id: run_id.clone(),
                digests_checked: self.digests.len() as u64,
                digests_with_problems: self.digests.iter().filter(|d| d.has_problem()).count() as u64,
            })
        }
        .instrument(span)
        .await
    }
}
