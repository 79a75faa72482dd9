//! A signing key of our own, for corpora we generate and for tests: it signs digests the
//! way CloudTrail does, and prints its public key the way `list-public-keys` does.

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;

use crate::error::{IntegrityError, Result};
use crate::keys::{PublicKeyEntry, PublicKeyList, fingerprint};

/// An RSA-2048 key pair that signs like CloudTrail.
pub struct Signer {
    key: RsaKeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

impl Signer {
    /// A new random key (never written anywhere but in memory).
    pub fn generate() -> Result<Signer> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| IntegrityError::Signing(e.to_string()))?;
        Ok(Signer { key })
    }

    /// The public key, PKCS#1 DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// What a digest signed by this key names as `digestPublicKeyFingerprint`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key_der())
    }

    /// The signature of `message` (SHA256withRSA), hex as in the object metadata.
    pub fn sign_hex(&self, message: &[u8]) -> Result<String> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), message, &mut signature)
            .map_err(|e| IntegrityError::Signing(e.to_string()))?;
        Ok(crate::hex(&signature))
    }

    /// The `list-public-keys` document holding this key, valid over `[start, end)`.
    pub fn public_key_list(&self, start: &str, end: &str) -> PublicKeyList {
        PublicKeyList {
            public_key_list: vec![PublicKeyEntry {
                value: base64::engine::general_purpose::STANDARD.encode(self.public_key_der()),
                validity_start_time: Some(start.to_string()),
                validity_end_time: Some(end.to_string()),
                fingerprint: self.fingerprint(),
            }],
        }
    }
}

/// A digest file as this signer writes it.
#[derive(Debug, Clone)]
pub struct SignedDigest {
    pub key: String,
    /// The file (gzip).
    pub gz: Vec<u8>,
    /// Its signature, hex (what S3 keeps in the `signature` metadata).
    pub signature: String,
    /// SHA-256 of the inflated file, hex.
    pub hash: String,
}

/// What one hourly digest covers.
#[derive(Debug, Clone)]
pub struct DigestSpec<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub account: &'a str,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub start: &'a str,
    pub end: &'a str,
    /// The digest before it in the chain (`None`: the chain starts here).
    pub previous: Option<&'a SignedDigest>,
    /// The log files delivered in the hour: key and the SHA-256 (hex) of the uncompressed
    /// file ([`crate::sha256_hex`]).
    pub logs: &'a [(String, String)],
}

impl Signer {
    /// Writes and signs the digest CloudTrail would write for `spec`.
    pub fn digest(&self, spec: &DigestSpec<'_>) -> Result<SignedDigest> {
        use crate::digest::{Digest, DigestFields, LogFileEntry};
        let fields = DigestFields {
            aws_account_id: spec.account.to_string(),
            digest_start_time: spec.start.to_string(),
            digest_end_time: spec.end.to_string(),
            digest_s3_bucket: spec.bucket.to_string(),
            digest_s3_object: spec.key.to_string(),
            digest_public_key_fingerprint: self.fingerprint(),
            digest_signature_algorithm: "SHA256withRSA".into(),
            newest_event_time: None,
            oldest_event_time: None,
            previous_digest_s3_bucket: spec.previous.map(|_| spec.bucket.to_string()),
            previous_digest_s3_object: spec.previous.map(|p| p.key.clone()),
            previous_digest_hash_value: spec.previous.map(|p| p.hash.clone()),
            previous_digest_hash_algorithm: spec.previous.map(|_| "SHA-256".into()),
            previous_digest_signature: spec.previous.map(|p| p.signature.clone()),
            log_files: spec
                .logs
                .iter()
                .map(|(key, hash)| LogFileEntry {
                    s3_bucket: spec.bucket.to_string(),
                    s3_object: key.clone(),
                    hash_value: hash.clone(),
                    hash_algorithm: Some("SHA-256".into()),
                    newest_event_time: None,
                    oldest_event_time: None,
                })
                .collect(),
        };
        let raw = serde_json::to_vec(&fields).map_err(|e| IntegrityError::Signing(e.to_string()))?;
        let digest = Digest { fields, raw };
        let signature = self.sign_hex(digest.string_to_sign().as_bytes())?;
        Ok(SignedDigest { key: spec.key.to_string(), gz: gzip(&digest.raw), signature, hash: digest.hash() })
    }
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}
