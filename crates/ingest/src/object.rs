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
}
