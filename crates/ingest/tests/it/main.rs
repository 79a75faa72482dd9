//! The ingest crate's integration tests, one binary, a module per subject.

// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

use ingest::aws::AwsOptions;
use ingest::backfill::BackfillOptions;

/// The local S3 server's options for the SDK.
pub fn aws() -> AwsOptions {
    AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) }
}

/// Backfill with two lanes and nothing else set.
pub fn quiet() -> BackfillOptions {
    BackfillOptions { lanes: 2, ..Default::default() }
}

mod end_to_end;
mod hostile;
mod s3_backfill;
