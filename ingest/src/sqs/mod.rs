//! The SQS-driven ingest service.

pub mod message;
#[cfg(feature = "lake")]
pub mod service;
