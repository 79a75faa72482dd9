//! CloudTrail's public keys, as `aws cloudtrail list-public-keys` prints them
//! (`{"PublicKeyList": [{"Value": base64 DER, "ValidityStartTime", "ValidityEndTime",
//! "Fingerprint"}]}`), found by a digest's `digestPublicKeyFingerprint`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{IntegrityError, Result};

/// One key of `list-public-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicKeyEntry {
    /// DER (PKCS#1 `RSAPublicKey`), base64.
    pub value: String,
    #[serde(default)]
    pub validity_start_time: Option<String>,
    #[serde(default)]
    pub validity_end_time: Option<String>,
    /// MD5 of the DER bytes, hex.
    pub fingerprint: String,
}

impl PublicKeyEntry {
    /// An entry for DER key bytes (as `ListPublicKeys` returns them), its validity window
    /// as text; the fingerprint computed when the service did not give one.
    pub fn from_der(der: &[u8], start: Option<String>, end: Option<String>, given: Option<&str>) -> PublicKeyEntry {
        PublicKeyEntry {
            value: base64::engine::general_purpose::STANDARD.encode(der),
            validity_start_time: start,
            validity_end_time: end,
            fingerprint: given.filter(|f| !f.is_empty()).map_or_else(|| fingerprint(der), str::to_string),
        }
    }
}

/// The document `list-public-keys` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicKeyList {
    pub public_key_list: Vec<PublicKeyEntry>,
}

/// Public keys by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    by_fingerprint: BTreeMap<String, Vec<u8>>,
}

/// The fingerprint CloudTrail gives a key: MD5 of its DER bytes, hex.
pub fn fingerprint(der: &[u8]) -> String {
    use md5::Digest as _;
    crate::hex(&md5::Md5::digest(der))
}

impl PublicKeys {
    /// Reads `list-public-keys` output. `what` names it in errors (a file's path).
    pub fn from_json(text: &str, what: &str) -> Result<PublicKeys> {
        let list: PublicKeyList = serde_json::from_str(text)
            .map_err(|e| IntegrityError::Keys { what: what.to_string(), message: e.to_string() })?;
        PublicKeys::from_list(&list, what)
    }

    /// Keys from a parsed list; a value that is not base64 is an error.
    pub fn from_list(list: &PublicKeyList, what: &str) -> Result<PublicKeys> {
        let mut keys = PublicKeys::default();
        for entry in &list.public_key_list {
            let der = base64::engine::general_purpose::STANDARD.decode(entry.value.trim()).map_err(|e| {
                IntegrityError::Keys { what: what.to_string(), message: format!("key {}: {e}", entry.fingerprint) }
            })?;
            // Also under the fingerprint the list gives, should it differ from the MD5.
            let given = entry.fingerprint.trim().to_ascii_lowercase();
            if !given.is_empty() && given != fingerprint(&der) {
                keys.by_fingerprint.insert(given, der.clone());
            }
            keys.insert(der);
        }
        Ok(keys)
    }

    /// Adds a DER key under its fingerprint.
    pub fn insert(&mut self, der: Vec<u8>) {
        self.by_fingerprint.insert(fingerprint(&der), der);
    }

    /// Adds every key of `other`.
    pub fn merge(&mut self, other: PublicKeys) {
        self.by_fingerprint.extend(other.by_fingerprint);
    }

    /// The key with this fingerprint.
    pub fn get(&self, fingerprint: &str) -> Option<&[u8]> {
        self.by_fingerprint.get(&fingerprint.to_ascii_lowercase()).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.by_fingerprint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }
}

/// True when `signature_hex` is a valid SHA256withRSA (PKCS#1 v1.5) signature of `message`
/// by the PKCS#1 DER public key `der`.
pub fn verify(der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(message, signature).is_ok()
}
