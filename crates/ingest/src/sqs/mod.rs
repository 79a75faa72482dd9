//! The SQS-driven ingest service.

pub mod message;
#[cfg(feature = "service")]
pub mod service;
