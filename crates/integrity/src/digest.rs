//! A digest file: its fields, its exact inflated bytes (what the signature covers) and the
//! string CloudTrail signs.

use serde::{Deserialize, Serialize};

use crate::error::{IntegrityError, Result};

/// One log file a digest lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    /// SHA-256 of the uncompressed log file, hex.
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
}

/// A digest file's fields, as CloudTrail writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFields {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    #[serde(default)]
    pub newest_event_time: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    #[serde(rename = "previousDigestS3Bucket", default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(rename = "previousDigestS3Object", default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFileEntry>,
}

/// A parsed digest and the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct Digest {
    pub fields: DigestFields,
    /// The inflated file, exactly: its hash is in the signed string and in the next
    /// digest's `previousDigestHashValue`.
    pub raw: Vec<u8>,
}

impl Digest {
    /// Parses a digest file as stored (gzip). `what` names it in errors (its key).
    pub fn from_gzip(gz: &[u8], what: &str) -> Result<Digest> {
        let raw = crate::gunzip(gz)
            .map_err(|e| IntegrityError::DigestFormat { what: what.to_string(), message: format!("not gzip: {e}") })?;
        Digest::from_json(raw, what)
    }

    /// Parses an inflated digest.
    pub fn from_json(raw: Vec<u8>, what: &str) -> Result<Digest> {
        let fields: DigestFields = serde_json::from_slice(&raw).map_err(|e| IntegrityError::DigestFormat {
            what: what.to_string(),
            message: format!("not a digest: {e}"),
        })?;
        Ok(Digest { fields, raw })
    }

    /// SHA-256 of the inflated bytes, hex.
    pub fn hash(&self) -> String {
        crate::sha256_hex(&self.raw)
    }

    /// The string CloudTrail signs: `digestEndTime`, `bucket/object`, the digest's hash and
    /// the previous digest's signature (`null` for the first of a chain), one per line.
    pub fn string_to_sign(&self) -> String {
        let f = &self.fields;
        format!(
            "{}\n{}/{}\n{}\n{}",
            f.digest_end_time,
            f.digest_s3_bucket,
            f.digest_s3_object,
            self.hash(),
            f.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }

    /// True for a backfill digest (`..._backfill.json.gz`): it covers files delivered late.
    pub fn is_backfill_key(key: &str) -> bool {
        key.ends_with("_backfill.json.gz")
    }
}
