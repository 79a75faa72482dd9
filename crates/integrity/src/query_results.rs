//! CloudTrail Lake's signed query results: the `result_sign.json` CloudTrail writes beside
//! a query's `result_1.csv.gz ... result_N.csv.gz` when it saves the results to S3. It
//! lists each file's SHA-256 (of the compressed bytes) and signs them together: RSA
//! PKCS#1 v1.5 with SHA-256 over the hashes joined by single spaces, in the listed order
//! (what `aws cloudtrail verify-query-results` checks), with the key of
//! `publicKeyFingerprint`.

use serde::Deserialize;

use crate::error::{IntegrityError, Result};
use crate::keys::PublicKeys;

/// One listed result file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedFile {
    pub file_name: String,
    /// SHA-256 of the file's (gzip) bytes, hex.
    pub file_hash_value: String,
}

/// `result_sign.json`. (AWS's own sample has no `version` field; nothing here requires one.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignFile {
    #[serde(default)]
    pub region: Option<String>,
    pub files: Vec<SignedFile>,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
    #[serde(default)]
    pub signature_algorithm: Option<String>,
    pub hash_signature: String,
    pub public_key_fingerprint: String,
    #[serde(default)]
    pub query_complete_time: Option<String>,
}

/// Whether a result file's bytes are the ones its sign file lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    Valid,
    /// Listed with another hash: the file was changed.
    Altered {
        listed: String,
        actual: String,
    },
    /// Not listed in the sign file.
    NotListed,
}

impl SignFile {
    /// Parses `result_sign.json`; `what` names it in errors.
    pub fn from_json(text: &[u8], what: &str) -> Result<SignFile> {
        let sign: SignFile = serde_json::from_slice(text)
            .map_err(|e| IntegrityError::SignFile { what: what.to_string(), message: e.to_string() })?;
        for (field, value, want) in [
            ("hashAlgorithm", &sign.hash_algorithm, "SHA-256"),
            ("signatureAlgorithm", &sign.signature_algorithm, "SHA256withRSA"),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.eq_ignore_ascii_case(want)) {
                return Err(IntegrityError::SignFile {
                    what: what.to_string(),
                    message: format!("{field} is {v}; only {want} is known"),
                });
            }
        }
        Ok(sign)
    }

    /// What the signature signs: the listed hashes joined by single spaces.
    pub fn string_to_sign(&self) -> String {
        self.files.iter().map(|f| f.file_hash_value.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Checks the signature with the key the sign file names. `Ok(false)` when it does not
    /// verify; an error when the key is not among `keys` or the signature is not hex.
    pub fn signature_valid(&self, keys: &PublicKeys, what: &str) -> Result<bool> {
        let key = keys.get(&self.public_key_fingerprint).ok_or_else(|| IntegrityError::SignFile {
            what: what.to_string(),
            message: format!(
                "signed with key {}, which is not among the {} public key(s) given",
                self.public_key_fingerprint,
                keys.len()
            ),
        })?;
        let signature = crate::unhex(&self.hash_signature).ok_or_else(|| IntegrityError::SignFile {
            what: what.to_string(),
            message: "hashSignature is not hex".into(),
        })?;
        Ok(crate::keys::verify(key, self.string_to_sign().as_bytes(), &signature))
    }

    /// Whether `bytes` are the file `name` lists.
    pub fn check_file(&self, name: &str, bytes: &[u8]) -> FileCheck {
        let Some(listed) = self.files.iter().find(|f| f.file_name == name) else { return FileCheck::NotListed };
        let actual = crate::sha256_hex(bytes);
        if actual.eq_ignore_ascii_case(&listed.file_hash_value) {
            FileCheck::Valid
        } else {
            FileCheck::Altered { listed: listed.file_hash_value.clone(), actual }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::Signer;

    fn signed(files: &[(&str, &[u8])], signer: &Signer) -> SignFile {
        let files: Vec<SignedFile> = files
            .iter()
            .map(|(n, b)| SignedFile { file_name: n.to_string(), file_hash_value: crate::sha256_hex(b) })
            .collect();
        let message = files.iter().map(|f| f.file_hash_value.as_str()).collect::<Vec<_>>().join(" ");
        SignFile {
            region: Some("us-east-1".into()),
            files,
            hash_algorithm: Some("SHA-256".into()),
            signature_algorithm: Some("SHA256withRSA".into()),
            hash_signature: signer.sign_hex(message.as_bytes()).unwrap(),
            public_key_fingerprint: signer.fingerprint(),
            query_complete_time: None,
        }
    }

    #[test]
    fn a_sign_file_verifies_its_files_and_refuses_a_changed_one_or_a_forged_signature() {
        let signer = Signer::generate().unwrap();
        let mut keys = PublicKeys::default();
        keys.insert(signer.public_key_der());
        let mut sign = signed(&[("result_1.csv.gz", b"one"), ("result_2.csv.gz", b"two")], &signer);
        assert!(sign.signature_valid(&keys, "t").unwrap());
        assert_eq!(sign.check_file("result_2.csv.gz", b"two"), FileCheck::Valid);
        assert!(matches!(sign.check_file("result_2.csv.gz", b"tw0"), FileCheck::Altered { .. }));
        assert_eq!(sign.check_file("result_3.csv.gz", b"x"), FileCheck::NotListed);
        // A listed hash changed to match a changed file no longer carries the signature.
        sign.files[1].file_hash_value = crate::sha256_hex(b"tw0");
        assert!(!sign.signature_valid(&keys, "t").unwrap());
        // A key we do not have is an error naming it.
        let err = sign.signature_valid(&PublicKeys::default(), "t").unwrap_err().to_string();
        assert!(err.contains(&signer.fingerprint()), "{err}");
    }

    #[test]
    fn the_sign_file_needs_no_version_and_refuses_an_unknown_algorithm() {
        let text = br#"{"region":"us-east-1","files":[{"fileHashValue":"ab","fileName":"result_1.csv.gz"}],
            "hashAlgorithm":"SHA-256","signatureAlgorithm":"SHA256withRSA","hashSignature":"00",
            "publicKeyFingerprint":"67b9fa73676d86966b449dd677850753","queryCompleteTime":"2022-05-10T22:06:30Z"}"#;
        let sign = SignFile::from_json(text, "t").unwrap();
        assert_eq!(sign.string_to_sign(), "ab");
        let md5 = String::from_utf8_lossy(text).replace("SHA-256", "MD5");
        let err = SignFile::from_json(md5.as_bytes(), "t").unwrap_err().to_string();
        assert!(err.contains("hashAlgorithm is MD5"), "{err}");
    }
}

#[cfg(test)]
mod recorded {
    use super::*;

    /// A result file and sign file CloudTrail Lake wrote, as AWS committed them to the AWS
    /// CLI's tests (Apache-2.0; tests/cloudtrail-lake-result/README.md).
    const RESULT: &[u8] = include_bytes!("../../../tests/cloudtrail-lake-result/result_1.csv.gz");
    const SIGN: &[u8] = include_bytes!("../../../tests/cloudtrail-lake-result/result_sign.json");
    const KEY: &str =
        include_str!("../../../tests/cloudtrail-lake-result/public_key_67b9fa73676d86966b449dd677850753.b64");

    #[test]
    fn cloudtrail_lakes_own_signed_result_verifies_and_a_changed_byte_does_not() {
        // As ListPublicKeys would give it: the fingerprint is the service's name for the key
        // (not the MD5 of these DER bytes, for this key).
        let list = format!(
            r#"{{"PublicKeyList":[{{"Value":"{}","Fingerprint":"67b9fa73676d86966b449dd677850753"}}]}}"#,
            KEY.trim()
        );
        let keys = PublicKeys::from_json(&list, "keys").unwrap();
        let sign = SignFile::from_json(SIGN, "result_sign.json").unwrap();
        assert_eq!(sign.public_key_fingerprint, "67b9fa73676d86966b449dd677850753");
        assert!(sign.signature_valid(&keys, "result_sign.json").unwrap());
        assert_eq!(sign.check_file("result_1.csv.gz", RESULT), FileCheck::Valid);
        let mut changed = RESULT.to_vec();
        changed[100] ^= 1;
        assert!(matches!(sign.check_file("result_1.csv.gz", &changed), FileCheck::Altered { .. }));
    }
}
