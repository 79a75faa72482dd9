//! lake: the CloudTrail table's schema and the Delta tables that hold it.
//!
//! A lake is a folder (local or `s3://bucket/prefix`) of Delta tables:
//!
//! - [`CLOUDTRAIL_TABLE`]: the events, zstd Parquet partitioned by `eventdate`, with the
//!   columns of [`schema`] (the one owner of column names in the workspace);
//! - [`LEDGER_TABLE`]: one row per source object ingested or quarantined ([`ledger`]);
//! - [`INTEGRITY_TABLE`]: one row per CloudTrail digest file checked while ingesting;
//! - [`ALERTS_TABLE`], [`RUNS_TABLE`] and [`BASELINES_TABLE`]: what detection runs raised, how
//!   far they read and what the stateful rules have seen; [`INCIDENTS_TABLE`]: those alerts
//!   grouped by identity; [`TRIAGE_TABLE`]: what analysts decided about each alert;
//!   [`EXCEPTIONS_TABLE`]: why some alerts are not delivered; [`DELIVERIES_TABLE`]: where
//!   the others went;
//! - [`QUARANTINE_DIR`]: files that could not be decoded, each beside its error.
//!
//! This crate writes ([`writer`], [`commit`]), remembers what is in ([`ledger`]), keeps
//! bad input aside ([`quarantine`]), compacts ([`compact`]), upgrades a lake written by an
//! older build ([`evolve`]) and opens snapshots for reading ([`snapshot`]). It does not
//! decode CloudTrail files (`ingest`) nor plan SQL (`query`).
//!
//! Without the default `delta` feature it is only [`schema`] and [`time`].
//!
//! ```no_run
//! # async fn f() -> Result<(), lake::LakeError> {
//! use lake::{Lake, LakeOptions, CLOUDTRAIL_TABLE};
//! let lake = Lake::open_or_create("./lake", &LakeOptions::default()).await?;
//! let table = lake.table(CLOUDTRAIL_TABLE).await?;
//! println!("version {:?}", table.version());
//! # Ok(()) }
//! ```

pub mod failpoint;
#[cfg(feature = "delta")]
pub mod failure;
pub mod rollup;
pub mod schema;
pub mod sketch;
pub mod time;

#[cfg(feature = "delta")]
pub mod commit;
#[cfg(feature = "delta")]
pub mod compact;
#[cfg(feature = "delta")]
mod error;
#[cfg(feature = "delta")]
pub mod evolve;
#[cfg(feature = "delta")]
pub mod integrity;
#[cfg(feature = "delta")]
pub mod leaf_bloom;
#[cfg(feature = "delta")]
pub mod ledger;
#[cfg(feature = "delta")]
pub mod location;
#[cfg(feature = "delta")]
pub mod quarantine;
#[cfg(feature = "delta")]
pub mod scan;
#[cfg(feature = "delta")]
pub mod snapshot;
#[cfg(feature = "delta")]
pub mod sorted;
#[cfg(feature = "delta")]
mod tables;
#[cfg(feature = "delta")]
pub mod writer;

#[cfg(feature = "delta")]
pub use compact::CompactSummary;
#[cfg(feature = "delta")]
pub use deltalake;
#[cfg(feature = "delta")]
pub use error::{LakeError, Result};
#[cfg(feature = "delta")]
pub use integrity::{DigestCheck, INTEGRITY_TABLE, KnownDigest};
#[cfg(feature = "delta")]
pub use ledger::{EntryKind, KnownSources, LedgerEntry, LogIntegrity, PendingLog};
#[cfg(feature = "delta")]
pub use rollup::{ROLLUPS_TABLE, RollupBuilder};
#[cfg(feature = "delta")]
pub use scan::{DataFile, LakeTable, ScanFiles, ScanSummary, ShippedScan};
#[cfg(feature = "delta")]
pub use snapshot::read_table;
#[cfg(feature = "delta")]
pub use tables::{
    ALERTS_TABLE, BASELINES_TABLE, CLOUDTRAIL_TABLE, DELIVERIES_TABLE, EXCEPTIONS_TABLE, INCIDENTS_TABLE, LEDGER_TABLE,
    Lake, QUARANTINE_DIR, REQUIRED_TABLES, RUNS_TABLE, TABLES, TRIAGE_TABLE,
};
#[cfg(feature = "delta")]
pub use writer::LakeOptions;
