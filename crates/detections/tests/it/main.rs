//! The detections crate's integration tests, one binary, a module per subject.

// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

mod pack;
mod runs;
mod triage;
