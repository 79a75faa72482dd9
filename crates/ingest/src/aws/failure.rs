//! The AWS SDK's errors explained with the lake's words ([`lake::failure`]): what failed,
//! the likely cause, and the README section that helps, in one line. The SDK's own error
//! (up to 1.5 KB of `ServiceError(ServiceError { ... raw: Response { headers ...`) goes to
//! the debug log (`-v`) only.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
pub use lake::failure::{Failure, FailureKind, explain_text};
use lake::failure::{classify_code, mentions_credentials, sentence};

/// Explains `err`, met doing `action` (`ReceiveMessage`, `GetObject`) on `resource`
/// (`queue https://...`, `s3://bucket/key`). The SDK's full error is logged at debug level.
pub fn explain<E>(err: &SdkError<E, HttpResponse>, action: &str, resource: &str) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let raw = aws_sdk_s3::error::DisplayErrorContext(err).to_string();
    tracing::debug!(action, resource, error = %raw, "AWS call failed.");
    let (kind, what) = match err {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            let status = s.raw().status().as_u16();
            let message = s.err().message().unwrap_or_default();
            classify_code(code, status, message)
        }
        SdkError::TimeoutError(_) => (FailureKind::Unreachable, "timed out".to_string()),
        SdkError::DispatchFailure(d) if d.is_user() || mentions_credentials(&raw) => {
            (FailureKind::NoCredentials, "no credentials".to_string())
        }
        SdkError::DispatchFailure(_) => (FailureKind::Unreachable, innermost(err)),
        SdkError::ConstructionFailure(_) if mentions_credentials(&raw) => {
            (FailureKind::NoCredentials, "no credentials".to_string())
        }
        SdkError::ResponseError(_) => (FailureKind::Transient, "the response could not be read".to_string()),
        _ => (FailureKind::Refused, innermost(err)),
    };
    Failure { kind, message: sentence(kind, action, resource, &what) }
}

/// The innermost cause's text (`Connection refused (os error 111)`), short.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    let text = text.lines().next().unwrap_or_default();
    text.chars().take(160).collect()
}

/// A failure while reading a response's body (the connection dropped): retryable.
pub fn body_failure(err: &dyn std::fmt::Display, action: &str, resource: &str) -> Failure {
    let text = err.to_string();
    explain_text(&text, action, resource).unwrap_or_else(|| Failure {
        kind: FailureKind::Transient,
        message: format!("{action} on {resource} failed while reading the answer: {text}"),
    })
}
