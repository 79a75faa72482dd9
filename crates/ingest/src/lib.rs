//! ingest: CloudTrail log files into the trailhouse lake.
//!
//! It owns the file [`decode`]r (gzip + simd-json straight into Arrow builders, and its
//! inverse, [`rebuild`]), the [`layout`] of CloudTrail's S3 keys, the [`admission`] of
//! objects (a log file the lake does not have yet), the [`source`]s a backfill reads from,
//! the decode/encode [`lanes`], the [`backfill`] pipeline and the [`sqs`] service. The
//! lake it writes (schema, tables, commit protocol) is `lake`; it is not a
//! query engine: `query` reads what this crate writes.
//!
//! Without the default `pipeline` feature it is the decoder, the rebuild, the key layouts
//! and the SQS message parser only (what the fuzz targets build).
//!
//! ```no_run
//! # async fn f() -> Result<(), ingest::IngestError> {
//! use ingest::{backfill::{backfill, BackfillOptions}, source::Source};
//! let lake = lake::Lake::open_or_create("./lake", &Default::default()).await?;
//! let source = Source::parse("./sample-logs/generated", &Default::default()).await?;
//! let summary = backfill(&lake, &source, &BackfillOptions::default()).await?;
//! println!("{} events from {} files", summary.events, summary.files);
//! # Ok(()) }
//! ```

#[cfg(feature = "pipeline")]
pub mod admission;
#[cfg(feature = "pipeline")]
pub mod aws;
#[cfg(feature = "pipeline")]
pub mod backfill;
pub mod counters;
pub mod decode;
#[cfg(feature = "pipeline")]
pub mod digest_check;
pub mod error;
pub mod lake_export;
#[cfg(feature = "pipeline")]
pub mod lake_results;
#[cfg(feature = "pipeline")]
pub mod lanes;
pub mod layout;
#[cfg(feature = "pipeline")]
pub mod object;
pub mod rebuild;
#[cfg(feature = "pipeline")]
pub mod source;
pub mod sqs;
#[cfg(feature = "pipeline")]
pub mod window;

pub use error::{IngestError, Result};
