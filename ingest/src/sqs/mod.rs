//! The SQS-driven ingest service.

pub mod message;
