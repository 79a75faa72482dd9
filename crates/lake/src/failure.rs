//! Storage and AWS failures in words a person can act on: what failed, the likely cause,
//! and the README section that helps, in one line. The raw error (an S3 XML body, request
//! ids, the SDK's debug dump) goes to the debug log (`-v`) only.
//!
//! Each failure is classified: a missing bucket or queue, a refusal, rejected or absent
//! credentials will not fix themselves, and a command stops on them at once; an
//! unreachable endpoint, throttling or a server error may, and long-running work retries.
//! `ingest::aws::failure` explains the AWS SDK's errors with the same words.

/// What kind of failure a storage or AWS call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No such bucket, queue or object.
    NotFound,
    /// The credentials are valid but not allowed to do this.
    AccessDenied,
    /// AWS rejected the credentials (unknown key, bad signature, expired token).
    BadCredentials,
    /// No credentials were found anywhere in the chain.
    NoCredentials,
    /// The endpoint could not be reached (refused, DNS, timeout).
    Unreachable,
    /// AWS asked for fewer requests (S3's SlowDown, throttling, HTTP 429): retried with
    /// backoff; lasting, it says to lower concurrency or raise a quota.
    Throttled,
    /// A server error, or a response that could not be read: worth retrying.
    Transient,
    /// Anything else the service refused (a bad request).
    Refused,
}

impl FailureKind {
    /// Whether trying again later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureKind::Unreachable | FailureKind::Throttled | FailureKind::Transient)
    }

    /// Whether the failure cannot go away without a person: no such bucket or queue, a
    /// refusal, rejected credentials. A long-running service stops on these alone; absent
    /// credentials (a provider that timed out) and unknown refusals are retried there.
    pub fn is_permanent(self) -> bool {
        matches!(self, FailureKind::NotFound | FailureKind::AccessDenied | FailureKind::BadCredentials)
    }
}

/// A failed call, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// One line: the action and resource, what happened, what to check.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A service's error code (`NoSuchBucket`) and HTTP status as a kind, and the short text
/// the message shows for it.
pub fn classify_code(code: &str, status: u16, message: &str) -> (FailureKind, String) {
    let detail = if code.is_empty() { format!("HTTP {status}") } else { code.to_string() };
    let kind = match code {
        "NoSuchBucket" | "NoSuchKey" | "NotFound" | "QueueDoesNotExist" | "AWS.SimpleQueueService.NonExistentQueue" => {
            FailureKind::NotFound
        }
        "AccessDenied" | "AccessDeniedException" | "AllAccessDisabled" | "Forbidden" => FailureKind::AccessDenied,
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidToken"
        | "IncompleteSignature" => FailureKind::BadCredentials,
        "SlowDown"
        | "OverLimit"
        | "KmsThrottled"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => FailureKind::Throttled,
        "InternalError" | "ServiceUnavailable" | "RequestTimeout" => FailureKind::Transient,
        _ if status == 404 => FailureKind::NotFound,
        _ if status == 403 => FailureKind::AccessDenied,
        _ if status == 429 => FailureKind::Throttled,
        _ if status >= 500 => FailureKind::Transient,
        _ => FailureKind::Refused,
    };
    let message = message.trim();
    let what = if kind == FailureKind::Refused && !message.is_empty() {
        format!("{detail}: {}", message.chars().take(160).collect::<String>())
    } else {
        detail
    };
    (kind, what)
}

/// Whether an error's text is about missing credentials.
pub fn mentions_credentials(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("credential") && !lower.contains("invalidaccesskeyid")
}

/// Explains a failure whose error is only text (an object store's, delta-rs's): the S3
/// error code in it when there is one (`<Code>NoSuchBucket</Code>`), else what the text
/// says. `None` when it is not a storage failure this knows (a bug, a bad table).
pub fn explain_text(text: &str, action: &str, resource: &str) -> Option<Failure> {
    let code = text.split("<Code>").nth(1).and_then(|rest| rest.split("</Code>").next()).unwrap_or_default();
    let status = ["404 Not Found", "403 Forbidden", "400 Bad Request", "500 Internal", "503 Service"]
        .iter()
        .find(|s| text.contains(*s))
        .and_then(|s| s[..3].parse::<u16>().ok())
        .unwrap_or(0);
    let lower = text.to_ascii_lowercase();
    let (kind, what) = if !code.is_empty() || status != 0 {
        classify_code(code, status, "")
    } else if mentions_credentials(text) {
        (FailureKind::NoCredentials, "no credentials".to_string())
    } else if lower.contains("connection refused") || lower.contains("dns error") || lower.contains("timed out") {
        let cause = ["connection refused", "dns error", "timed out"].into_iter().find(|c| lower.contains(c));
        (FailureKind::Unreachable, cause.unwrap_or_default().to_string())
    } else {
        return None;
    };
    tracing::debug!(action, resource, error = %text, "Storage call failed.");
    Some(Failure { kind, message: sentence(kind, action, resource, &what) })
}

/// The one line for a failure: `ACTION on RESOURCE failed (WHAT): HINT`.
pub fn sentence(kind: FailureKind, action: &str, resource: &str, what: &str) -> String {
    let hint = match kind {
        FailureKind::NotFound if resource.starts_with("queue ") => {
            "no such queue: check --queue-url and that the queue is in the region the URL names \
             (docs/service.md)"
        }
        FailureKind::NotFound
            if what.contains("NoSuchKey") || (!what.contains("Bucket") && action.ends_with("Object")) =>
        {
            "no such object: it was deleted or never written"
        }
        FailureKind::NotFound => {
            "no such bucket: check the name, and the account and region it lives in (README: Configuration)"
        }
        FailureKind::AccessDenied => {
            "access denied: the credentials in use lack this permission or a bucket/queue/key policy refuses it \
             (docs/iam.md)"
        }
        FailureKind::BadCredentials => {
            "AWS rejected the credentials: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and that \
             a session token has not expired (README: Configuration)"
        }
        FailureKind::NoCredentials => {
            "no AWS credentials found (environment, profile, SSO, web identity or instance role): set AWS_PROFILE or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (README: Configuration)"
        }
        FailureKind::Unreachable => {
            "cannot reach AWS: check --endpoint-url/AWS_ENDPOINT_URL, the region and the network (README: \
             Configuration)"
        }
        FailureKind::Throttled => {
            "AWS is throttling these requests; retried with backoff (if it lasts, lower --fetch-concurrency \
             or the number of ingesters, or ask for a higher quota)"
        }
        FailureKind::Transient => "AWS is failing; retried with backoff",
        FailureKind::Refused => "AWS refused the request",
    };
    if resource.is_empty() {
        format!("{action} failed ({what}): {hint}")
    } else {
        format!("{action} on {resource} failed ({what}): {hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_map_to_kinds_that_say_whether_to_retry() {
        let kind = |code: &str, status: u16| classify_code(code, status, "").0;
        assert_eq!(kind("NoSuchBucket", 404), FailureKind::NotFound);
        assert_eq!(kind("AWS.SimpleQueueService.NonExistentQueue", 400), FailureKind::NotFound);
        assert_eq!(kind("AccessDenied", 403), FailureKind::AccessDenied);
        assert_eq!(kind("InvalidAccessKeyId", 403), FailureKind::BadCredentials);
        assert_eq!(kind("", 503), FailureKind::Transient);
        assert_eq!(kind("SlowDown", 503), FailureKind::Throttled);
        assert_eq!(kind("", 429), FailureKind::Throttled);
        assert!(FailureKind::Throttled.is_retryable() && !FailureKind::Throttled.is_permanent());
        assert_eq!(kind("", 403), FailureKind::AccessDenied);
        assert!(!FailureKind::NotFound.is_retryable() && FailureKind::Unreachable.is_retryable());
    }

    #[test]
    fn an_object_store_error_text_is_explained_in_one_line() {
        let text = "Generic S3 error: Error performing list request: ... 404 Not Found: <?xml version=\"1.0\"?>\n\
                    <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        let f = explain_text(text, "ListObjects", "s3://x/y").unwrap_or_else(|| panic!("not explained"));
        assert_eq!(f.kind, FailureKind::NotFound);
        assert!(
            f.message.starts_with("ListObjects on s3://x/y failed (NoSuchBucket): no such bucket")
                && !f.message.contains('\n'),
            "{f}"
        );
        assert!(explain_text("Parquet error: bad magic", "read", "x").is_none());
    }
}
