//! Integrity errors: what stops a check from being made at all (the findings of a check
//! that could be made are [`crate::chain::Finding`]s, not errors).

#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("{what} is not a digest file: {message}")]
    DigestFormat { what: String, message: String },
    #[error("public keys {what}: {message}")]
    Keys { what: String, message: String },
    #[error("{what} is not a CloudTrail Lake sign file: {message}")]
    SignFile { what: String, message: String },
    #[error("signing: {0}")]
    Signing(String),
}

pub type Result<T, E = IntegrityError> = std::result::Result<T, E>;
