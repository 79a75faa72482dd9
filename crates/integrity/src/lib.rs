//! integrity: CloudTrail log file integrity validation.
//!
//! Every hour CloudTrail writes a digest file per account and region listing the log files
//! it delivered with the SHA-256 of each (uncompressed), chained to the previous digest by
//! its signature and hash, and signs the digest (RSA PKCS#1 v1.5 with SHA-256, the
//! signature in the object's metadata). With the region's public keys, an investigator can
//! show that no log file was changed, deleted or forged, and that no hour went missing.
//!
//! - [`digest`]: a digest file, parsed from its exact bytes, and the string it signs.
//! - [`keys`]: public keys as `aws cloudtrail list-public-keys` prints them, by fingerprint.
//! - [`signer`]: a signing key of our own, for generated corpora and tests.
//! - [`folder`]: every chain in a local copy of a trail bucket (signatures from sidecars).
//! - [`chain`]: one account/region's digests and log files checked the way the AWS CLI's
//!   `validate-logs` checks them, and a little stricter (the chain's hashes too, and every
//!   log file that no digest lists, or that no digest covers at all).
//! - [`query_results`]: CloudTrail Lake's signed query results (`result_sign.json`).
//!
//! It reads nothing by itself: callers hand it bytes and signatures (from S3, where the
//! signature is the object's `signature` metadata, or from a folder, where it is a
//! `<digest>.signature` sidecar).

pub mod chain;
pub mod digest;
mod error;
pub mod folder;
pub mod keys;
pub mod query_results;
pub mod signer;

pub use error::{IntegrityError, Result};

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Bytes from hex (either case); `None` for anything else.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes().chunks(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

/// The bytes of a gzip file, inflated (all members, as CloudTrail's readers do).
pub fn gunzip(gz: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(gz.len() * 8);
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_hex() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        assert_eq!(unhex("000F10ff"), Some(vec![0, 15, 16, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
