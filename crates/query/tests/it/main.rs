//! The query crate's integration tests, one binary, a module per subject, over one
//! fixture lake (`fixture`).

// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

mod athena;
mod cloudtrail_lake;
mod fixture;
mod memory;
mod rollups;
mod saved;
mod scan;
