//! CloudTrail's S3 key layout: which keys are log files, digests, Insights, or neither.
//!
//! `[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail[-Digest|-Insight]/<region>/YYYY/MM/DD/<file>`

/// What a key (or a local path) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind<'a> {
    /// A CloudTrail log file (management/data events, or Insights events).
    LogFile(LogKey<'a>),
    /// A digest file (integrity chain): not ingested.
    Digest,
    /// Under `AWSLogs/` but another service's logs (Config, VPC flow logs...): not ingested.
    OtherService,
    /// Not in CloudTrail's layout; a `.json` or `.json.gz` file is ingested anyway.
    Unrecognised,
}

/// The parts of a log file's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey<'a> {
    pub org_id: Option<&'a str>,
    pub account: &'a str,
    pub region: &'a str,
    /// `YYYY/MM/DD` of delivery.
    pub date: &'a str,
    pub insight: bool,
}

/// Classifies a key or path (with `/` separators).
pub fn classify(key: &str) -> KeyKind<'_> {
    let Some(pos) = key.find("AWSLogs/") else { return KeyKind::Unrecognised };
    let mut parts = key[pos + "AWSLogs/".len()..].split('/');
    let mut first = parts.next().unwrap_or("");
    let org_id = if first.starts_with("o-") {
        let org = first;
        first = parts.next().unwrap_or("");
        Some(org)
    } else {
        None
    };
    let account = first;
    let service = parts.next().unwrap_or("");
    let insight = match service {
        "CloudTrail" => false,
        "CloudTrail-Insight" => true,
        "CloudTrail-Digest" => return KeyKind::Digest,
        _ if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) => return KeyKind::OtherService,
        _ => return KeyKind::Unrecognised,
    };
    let region = parts.next().unwrap_or("");
    let (y, m, d) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let date_ok = y.len() == 4 && m.len() == 2 && d.len() == 2;
    if region.is_empty() || !date_ok || parts.next().is_none() {
        return KeyKind::Unrecognised;
    }
    let date_start = key.len() - key[pos..].len() + "AWSLogs/".len();
    let rest = &key[date_start..];
    let date_at = rest.find(&format!("/{region}/")).map(|i| date_start + i + region.len() + 2);
    let date = date_at.map(|i| &key[i..i + 10]).unwrap_or("");
    KeyKind::LogFile(LogKey { org_id, account, region, date, insight })
}

/// Whether a file with this key should be ingested, judged by its name alone.
pub fn is_ingestible(key: &str) -> bool {
    // What `aws cloudtrail list-public-keys` prints, kept beside a copy of a trail for
    // `trailhouse verify` (and written by `trailhouse generate --digests`): not a log file.
    if key.rsplit('/').next() == Some("public-keys.json") {
        return false;
    }
    let named_json = key.ends_with(".json.gz") || key.ends_with(".json") || key.ends_with(".gz");
    match classify(key) {
        KeyKind::LogFile(_) => named_json,
        KeyKind::Unrecognised => named_json,
        KeyKind::Digest | KeyKind::OtherService => false,
    }
}

/// The location-independent name of a source object, used to recognise the same log
/// file whether it is read from S3 or from a local copy: the key from `AWSLogs/` on, or
/// the whole key when it is not in CloudTrail's layout.
pub fn canonical_name(key: &str) -> &str {
    key.find("AWSLogs/").map_or(key, |i| &key[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified_by_layout() {
        let single = "AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/111122223333_CloudTrail_us-east-1_20230710T1240Z_C1qUFaqvZS64BcIN.json.gz";
        let org = "pre/fix/AWSLogs/o-1234abcde/222222222222/CloudTrail/eu-west-1/2025/03/06/x.json.gz";
        let insight = "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2023/07/10/f.json.gz";
        let cases: Vec<(&str, KeyKind)> = vec![
            (
                single,
                KeyKind::LogFile(LogKey {
                    org_id: None,
                    account: "111122223333",
                    region: "us-east-1",
                    date: "2023/07/10",
                    insight: false,
                }),
            ),
            (
                org,
                KeyKind::LogFile(LogKey {
                    org_id: Some("o-1234abcde"),
                    account: "222222222222",
                    region: "eu-west-1",
                    date: "2025/03/06",
                    insight: false,
                }),
            ),
            (
                insight,
                KeyKind::LogFile(LogKey {
                    org_id: None,
                    account: "111122223333",
                    region: "us-east-1",
                    date: "2023/07/10",
                    insight: true,
                }),
            ),
            ("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2023/07/10/d.json.gz", KeyKind::Digest),
            ("AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-1/2023/07/10/d.json.gz", KeyKind::Digest),
            ("AWSLogs/111122223333/vpcflowlogs/us-east-1/2023/07/10/f.log.gz", KeyKind::OtherService),
            ("random/file.json.gz", KeyKind::Unrecognised),
            ("AWSLogs/111122223333/CloudTrail/us-east-1/2023/07", KeyKind::Unrecognised),
        ];
        for (key, want) in cases {
            assert_eq!(classify(key), want, "{key}");
        }
    }

    #[test]
    fn only_log_files_and_stray_json_are_ingestible() {
        assert!(is_ingestible("AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10/a.json.gz"));
        assert!(is_ingestible("my-export/events.json"));
        assert!(!is_ingestible("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2023/07/10/a.json.gz"));
        assert!(!is_ingestible("AWSLogs/111122223333/Config/us-east-1/2023/07/10/a.json.gz"));
        assert!(!is_ingestible("README.md"));
    }

    #[test]
    fn canonical_name_ignores_where_the_copy_lives() {
        assert_eq!(canonical_name("/tmp/x/AWSLogs/1/CloudTrail/a.json.gz"), "AWSLogs/1/CloudTrail/a.json.gz");
        assert_eq!(canonical_name("logs/AWSLogs/1/CloudTrail/a.json.gz"), "AWSLogs/1/CloudTrail/a.json.gz");
        assert_eq!(canonical_name("other.json"), "other.json");
    }
}
