//! trailhouse-ingest: CloudTrail log files into the trailhouse lake.
//!
//! It owns the CloudTrail Arrow [`schema`], the file [`decode`]r (gzip + simd-json
//! straight into Arrow builders), the [`layout`] of CloudTrail's S3 keys, the [`lake`]
//! (a Delta table of zstd Parquet, local or on S3), the [`source`]s a backfill reads from,
//! the [`backfill`] pipeline, and the synthetic log [`generate`]or. It is not a query
//! engine: `trailhouse-query` reads what this crate writes.
//!
//! ```no_run
//! # async fn f() -> Result<(), ingest::IngestError> {
//! use ingest::{backfill::{backfill, BackfillOptions}, lake::Lake, source::Source};
//! let lake = Lake::open_or_create("./lake", &Default::default()).await?;
//! let source = Source::parse("./sample-logs/generated", &Default::default()).await?;
//! let summary = backfill(&lake, &source, &BackfillOptions::default()).await?;
//! println!("{} events from {} files", summary.events, summary.files);
//! # Ok(()) }
//! ```

#[cfg(feature = "lake")]
pub mod aws;
#[cfg(feature = "lake")]
pub mod backfill;
pub mod decode;
pub mod error;
pub mod generate;
#[cfg(feature = "lake")]
pub mod lake;
#[cfg(feature = "lake")]
pub mod lanes;
pub mod layout;
pub mod rebuild;
pub mod schema;
#[cfg(feature = "lake")]
pub mod source;
pub mod sqs;

pub use error::{IngestError, Result};
