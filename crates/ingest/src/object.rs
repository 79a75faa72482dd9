//! The unit of work: one source object, and its bytes or where a lane reads them.

use bytes::Bytes;

/// One object to ingest.
#[derive(Debug, Clone)]
pub struct SourceObject {
    /// `s3://bucket/key` or the local path.
    pub uri: String,
    /// The key (S3) or the path relative to the source root (local), with `/` separators.
    pub key: String,
    pub size: i64,
    pub etag: Option<String>,
}

/// A file's bytes, or where a lane reads them itself.
pub enum Payload {
    Fetched(Bytes),
    /// A local file at the object's `uri`: read by the lane into a reused buffer, with no
    /// hop through the async runtime's blocking pool (per-file overhead is what bounds a
    /// corpus of many small files).
    LocalFile,
    /// An object the source read but refuses as input (a CloudTrail Lake result that fails
    /// its sign file, or has no events): the lanes quarantine it with `error`. Unless
    /// `retry`, the ledger records it and later runs pass it by; with `retry` (refused for
    /// how this run was asked to check it, not for its bytes) a later run reads it again.
    Refused {
        raw: Bytes,
        error: String,
        retry: bool,
    },
}
