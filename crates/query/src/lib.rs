//! query: DataFusion SQL over the trailhouse lake.
//!
//! [`LakeSession`] serves the lake's Delta tables (`cloudtrail`, `ingested_files`, and
//! `alerts` / `detection_runs` once detections have run; each opened when a statement
//! first names it) through the lake's native scan
//! ([`lake::LakeTable`]: DataFusion's own Parquet scan of the Delta snapshot's files, so
//! partition pruning, file statistics and leaf projection of struct fields apply), the
//! rules that let Athena queries and struct-keyed joins plan ([`athena_types`],
//! [`join_keys`]), plus the functions analysts
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
mod catalog;
pub mod chain;
mod error;
pub mod export;
mod field_names;
pub mod functions;
pub mod headers;
pub mod join_keys;
pub mod lake_sql;
pub mod memory;
pub mod ocsf;
pub mod output;
pub mod rollups;
pub mod run;
pub mod saved;
mod session;
pub mod unnest;
pub mod views;

pub use error::{QueryError, Result};
pub use memory::MemoryLimit;
pub use session::{
    LakeSession, TableInfo, context_with, lake_config, new_context, new_context_in, new_context_within, state_builder,
};

use arrow::array::RecordBatch;

/// Formats batches as a text table.
pub fn pretty(batches: &[RecordBatch]) -> Result<String> {
    Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}
