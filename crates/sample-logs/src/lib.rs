//! sample-logs: synthetic CloudTrail logs, deterministic for a seed.
//!
//! [`generate()`] writes gzip `{"Records":[...]}` files in CloudTrail's S3 key layout and
//! file naming (one file per account, region and 5-minute slot): every identity type, ~50
//! APIs over ~30 services, errors, data events with resources, console logins, and a few
//! planted suspicious events (each a [`Scenario`]), listed in `planted.tsv` beside the logs
//! (`planted: false` leaves them out).
//!
//! The routine traffic is a well-run organization's day, the thing a detection pack must
//! stay quiet on: no root user (it appears only in the planted scenarios), people signing
//! in with MFA from their own address and calling from it, a role's sessions named per run,
//! a few partner accounts, AWS's services acting in every region and being refused on 4% of
//! their calls, people and workloads refused on about 0.4% of theirs. The same options give byte-identical files and the same
//! [`GenerateSummary`]: the demo, the benchmarks and the tests build their corpora with it,
//! and the detections' tests expect the planted events.
//!
//! It is not a model of any real account's traffic (the real files the tests read are in
//! `tests/data/`), nor a source of hostile input (the decoder's fuzz targets are); it writes
//! to a local folder only, never to S3 or a lake.
//!
//! ```no_run
//! use sample_logs::{GenerateOptions, generate};
//!
//! # fn main() -> sample_logs::Result<()> {
//! let opts = GenerateOptions { out: "sample-logs/generated".into(), events: 5_000, seed: 7, ..Default::default() };
//! let summary = generate(&opts)?;
//! println!("{} events ({} planted) in {} files", summary.events, summary.planted, summary.files);
//! # Ok(()) }
//! ```

mod error;
mod events;
mod generate;
mod identity;
mod json;
mod rng;
mod scenarios;
mod spec;
mod tamper;
mod writer;

pub use error::{GenerateError, Result};
pub use generate::{GenerateSummary, generate};
pub use rng::Rng;
pub use scenarios::Scenario;
pub use spec::GenerateOptions;
pub use tamper::TAMPERINGS;
