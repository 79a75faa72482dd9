//! trailhouse-query: DataFusion SQL over the trailhouse lake.
//!
//! [`LakeSession`] registers the lake's Delta tables (`cloudtrail`, `ingested_files`, and
//! `alerts` / `detection_runs` once detections have run) through delta-rs's table
//! provider, so partition pruning and file statistics apply, plus the functions analysts
//! expect ([`functions`]: Athena's JSON functions, IP, ARN and principal helpers) and a few
//! views ([`views`]). [`run`] streams statements to any [`output::Format`], [`export`]
//! writes slices of the lake as partitioned Parquet. Nothing here writes to the lake
//! itself, and nothing here is terminal UI: the interactive prompt is the `trailhouse`
//! binary's.
//!
//! ```no_run
//! # async fn f() -> Result<(), query::QueryError> {
//! let session = query::LakeSession::open("./lake", &Default::default()).await?;
//! let batches = session.sql("SELECT eventname, count(*) FROM cloudtrail GROUP BY 1").await?;
//! println!("{}", query::pretty(&batches)?);
//! # Ok(()) }
//! ```

pub mod athena_types;
mod error;
pub mod export;
pub mod functions;
pub mod output;
pub mod run;
mod session;
pub mod views;

pub use error::{QueryError, Result};
pub use session::{LakeSession, TableInfo, new_context, register_views};

use arrow::array::RecordBatch;

/// Formats batches as a text table.
pub fn pretty(batches: &[RecordBatch]) -> Result<String> {
    Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}
