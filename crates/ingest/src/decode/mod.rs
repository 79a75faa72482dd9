//! One CloudTrail log file (gzip or plain `{"Records":[...]}`) into Arrow rows.
//!
//! The whole file is inflated into a reused buffer (libdeflate when the gzip trailer
//! gives the size, zlib-rs streaming otherwise), parsed in place by simd-json into a
//! reused tape, and appended to an [`EventBatchBuilder`]. A file that cannot be inflated
//! or parsed appends nothing and returns a [`DecodeError`]; a file with odd events keeps
//! every event (see [`lake::schema::UNMAPPED`]).

mod builder;
pub mod json_text;

use std::io::Read;

pub use builder::{EventBatchBuilder, EventCounts};
use simd_json::{Buffers, Node, Tape};

/// Why a file could not be decoded. The file is quarantined with this message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("gzip data is corrupt or truncated: {0}")]
    Gzip(String),
    #[error("inflated size exceeds the limit of {limit} bytes (a gzip bomb, or raise --max-inflated-mb)")]
    TooLarge { limit: usize },
    #[error("the file is empty")]
    Empty,
    #[error("not valid JSON at byte {offset}: {message}")]
    Json { offset: usize, message: String },
    #[error("the JSON document is not an object with a \"Records\" array ({0})")]
    NotCloudTrail(&'static str),
}

/// What decoding one file produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FileDecoded {
    pub counts: EventCounts,
    /// Bytes after inflating.
    pub inflated_bytes: u64,
}

/// Default cap on one file's inflated size: CloudTrail files are at most tens of MB.
pub const DEFAULT_MAX_INFLATED: usize = 1 << 30;

/// Deepest accepted nesting of objects and arrays. CloudTrail events nest a few levels;
/// deeper values are kept (the writer is iterative) up to this, and a file nested deeper
/// is refused with a clear error rather than parsed.
pub const MAX_NESTING: usize = 10_000;

/// Decodes files; holds the buffers reused from one file to the next.
pub struct FileDecoder {
    inflated: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
    inflater: libdeflater::Decompressor,
    max_inflated: usize,
    /// Keep the SHA-256 of each file's inflated bytes (what CloudTrail's digests list).
    hash: bool,
    last_sha256: Option<[u8; 32]>,
}

impl Default for FileDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_INFLATED)
    }
}

impl FileDecoder {
    /// A decoder refusing files that inflate beyond `max_inflated` bytes.
    pub fn new(max_inflated: usize) -> Self {
        FileDecoder {
            inflated: Vec::with_capacity(1 << 20),
            buffers: Buffers::with_max_depth(1 << 20, MAX_NESTING),
            tape: Some(Tape::null()),
            inflater: libdeflater::Decompressor::new(),
            max_inflated,
            hash: false,
            last_sha256: None,
        }
    }

    /// Also hashes each file's inflated bytes (SHA-256), for log file integrity
    /// validation: see [`FileDecoder::last_sha256`].
    pub fn with_hashing(mut self, on: bool) -> Self {
        self.hash = on;
        self
    }

    /// The SHA-256 of the inflated bytes of the file last given to [`FileDecoder::decode`],
    /// when hashing is on and the file inflated (whether or not it parsed).
    pub fn last_sha256(&self) -> Option<[u8; 32]> {
        self.last_sha256
    }

    /// Makes the buffer at least `n` bytes long. It never shrinks, so the bytes are zeroed
    /// once, not for every file (the document and simd-json's padding, which may hold
    /// anything, are written over).
    fn grow_to(&mut self, n: usize) {
        if self.inflated.len() < n {
            self.inflated.resize(n, 0);
        }
    }

    /// Inflates `raw` (gzip, possibly multi-member, or plain JSON) into the internal buffer,
    /// followed by simd-json's padding; returns the document length.
    fn inflate(&mut self, raw: &[u8]) -> Result<usize, DecodeError> {
        let pad = simd_json::INPUT_PADDING;
        if raw.is_empty() {
            return Err(DecodeError::Empty);
        }
        if raw.len() < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
            if raw.len() > self.max_inflated {
                return Err(DecodeError::TooLarge { limit: self.max_inflated });
            }
            let len = raw.len();
            self.grow_to(len + pad);
            self.inflated[..len].copy_from_slice(raw);
            return Ok(len);
        }
        // The gzip trailer holds the last member's size mod 2^32: right for the usual
        // single-member file, and a one-shot libdeflate inflate needs nothing else.
        if raw.len() >= 18 {
            let n = raw.len();
            let isize = u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize;
            if isize <= self.max_inflated {
                self.grow_to(isize + pad);
                if let Ok(len) = self.inflater.gzip_decompress(raw, &mut self.inflated[..isize])
                    && len == isize
                {
                    return Ok(len);
                }
            }
        }
        // Multi-member, larger than 4 GiB, or corrupt: stream, with a cap.
        self.inflated.clear();
        let mut reader = flate2::read::MultiGzDecoder::new(raw).take(self.max_inflated as u64 + 1);
        reader.read_to_end(&mut self.inflated).map_err(|e| DecodeError::Gzip(e.to_string()))?;
        let len = self.inflated.len();
        if len > self.max_inflated {
            return Err(DecodeError::TooLarge { limit: self.max_inflated });
        }
        if len == 0 {
            return Err(DecodeError::Empty);
        }
        self.inflated.resize(len + pad, 0);
        Ok(len)
    }

    /// Decodes one file, appending its events to `out` (nothing on error).
    pub fn decode(
        &mut self,
        raw: &[u8],
        source: &str,
        out: &mut EventBatchBuilder,
    ) -> Result<FileDecoded, DecodeError> {
        self.last_sha256 = None;
        let mut len = self.inflate(raw)?;
        if self.hash {
            // Before parsing: simd-json parses in place, over these bytes.
            use sha2::Digest as _;
            self.last_sha256 = Some(sha2::Sha256::digest(&self.inflated[..len]).into());
        }
        // A UTF-8 byte order mark is not JSON; CloudTrail never writes one, editors do.
        let mut start = 0;
        if self.inflated[..len].starts_with(&[0xEF, 0xBB, 0xBF]) {
            start = 3;
            len -= 3;
        }
        let inflated_bytes = len as u64;
        let buf = &mut self.inflated[start..];
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let result = simd_json::fill_tape_padded(buf, len, &mut self.buffers, &mut tape)
            .map_err(|e| DecodeError::Json {
                offset: e.index(),
                message: match e.error() {
                    simd_json::ErrorType::DepthLimitExceeded => {
                        format!("objects and arrays nested deeper than {MAX_NESTING} levels")
                    }
                    other => format!("{other:?}"),
                },
            })
            .and_then(|()| append_records(&tape.0, source, out))
            .map(|counts| FileDecoded { counts, inflated_bytes });
        self.tape = Some(tape.reset());
        result
    }
}

fn append_records(tape: &[Node<'_>], source: &str, out: &mut EventBatchBuilder) -> Result<EventCounts, DecodeError> {
    let Some(Node::Object { len, .. }) = tape.first() else {
        return Err(DecodeError::NotCloudTrail("top level is not an object"));
    };
    let mut records = None;
    let mut i = 1;
    for _ in 0..*len {
        let Node::String(key) = tape[i] else {
            return Err(DecodeError::NotCloudTrail("malformed object"));
        };
        if key == "Records" {
            records = Some(i + 1);
        }
        i += 1 + json_text::span(&tape[i + 1]);
    }
    let Some(r) = records else {
        return Err(DecodeError::NotCloudTrail("no \"Records\" key"));
    };
    let Node::Array { len, .. } = tape[r] else {
        return Err(DecodeError::NotCloudTrail("\"Records\" is not an array"));
    };
    let mut counts = EventCounts::default();
    let mut i = r + 1;
    for _ in 0..len {
        out.append_event(tape, i, source, &mut counts);
        i += json_text::span(&tape[i]);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests;
