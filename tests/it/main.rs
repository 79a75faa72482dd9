//! The `trailhouse` binary's integration tests: one test binary (linking DataFusion,
//! delta-rs and the AWS SDK once), a module per subject. Run one subject with
//! `cargo test --test it sqs::`, one test by its name.
//!
//! What they need beyond cargo (the local S3/SQS server, the Python readers, the browser)
//! scripts/test.sh provides; the helpers in `test_support` say in one line when it is missing.
// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

mod attack_replay;
mod backfill;
mod catalog;
mod cli;
mod cluster;
mod console;
mod crash;
mod deploy;
mod detect;
mod digests;
mod enrich;
mod export;
mod faults;
mod import;
mod investigate;
mod local_aws;
mod maintenance;
mod ocsf;
mod scripts;
mod sql;
mod sqs;
mod verify;
