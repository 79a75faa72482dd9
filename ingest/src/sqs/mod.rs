//! The SQS-driven ingest service.

pub mod message;
pub mod service;
