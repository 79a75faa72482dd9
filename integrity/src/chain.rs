//! One account/region's digests and the log files they list, checked as the AWS CLI's
//! `validate-logs` checks them (each digest's location and signature, the chain followed
//! through `previousDigestS3Object`, each log file's SHA-256), and a little stricter: a
//! link must also carry the previous digest's real hash and signature, an hour with no
//! digest is a gap, and a log file that no digest lists is reported.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::digest::Digest;
use crate::keys::{PublicKeys, verify};

/// A digest file as found: its key, its bytes, and its signature (hex) when the store has
/// one (S3 metadata `signature`, or a `.signature` sidecar in a folder).
#[derive(Debug, Clone)]
pub struct DigestObject {
    /// The bucket it was found in, when known (a folder copy does not say).
    pub bucket: Option<String>,
    pub key: String,
    pub gz: Vec<u8>,
    pub signature: Option<String>,
}

/// What is wrong, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Finding {
    /// Not gzip, not JSON, or not a digest.
    DigestUnreadable { key: String, message: String },
    /// The digest names another location than where it is (`digestS3Bucket`/`digestS3Object`).
    DigestMoved { key: String, names: String },
    /// The signature does not verify: the digest (or its signature) was changed.
    InvalidSignature { key: String },
    /// The signature is not hex.
    SignatureNotHex { key: String },
    /// No public key has the digest's fingerprint.
    UnknownKey { key: String, fingerprint: String },
    /// The next digest's link does not carry this digest's hash or signature.
    DigestAltered { key: String, next: String },
    /// The digest the chain points back to is not there.
    DigestMissing { key: String, referenced_by: String },
    /// Hours between two digests with no digest (`restarted`: the later one starts a new
    /// chain, i.e. logging or validation was stopped in between).
    ChainGap { after: String, before: String, hours: i64, restarted: bool },
    /// A listed log file's hash differs: it was changed.
    LogAltered { key: String, digest: String },
    /// A listed log file is not there.
    LogMissing { key: String, digest: String },
    /// A listed log file is not a gzip file.
    LogUnreadable { key: String, digest: String, message: String },
    /// A log file no digest lists (delivered before the newest digest's end).
    LogUnlisted { key: String },
}

/// The outcome for one account and region.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChainReport {
    pub account: String,
    pub region: String,
    pub digests_checked: usize,
    pub digests_valid: usize,
    /// Digests whose signature could not be checked (no signature where they are stored).
    pub signatures_unchecked: usize,
    pub logs_valid: usize,
    pub logs_altered: usize,
    pub logs_missing: usize,
    pub logs_unlisted: usize,
    pub gaps: usize,
    pub findings: Vec<Finding>,
}

impl ChainReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The UTC end time a digest key carries (`..._20261102T010000Z.json.gz`), as text that sorts.
pub fn key_time(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".json.gz")?;
    let stem = stem.strip_suffix("_backfill").unwrap_or(stem);
    let t = stem.rsplit('_').next()?;
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (b.len() == 16 && b[8] == b'T' && b[15] == b'Z' && digits(0..8) && digits(9..15)).then_some(t)
}

/// Seconds since the epoch of the time a key carries: a digest's end time, a log file's
/// delivery time (`None` for a key that carries neither).
pub fn key_epoch(key: &str) -> Option<i64> {
    if let Some(t) = key_time(key) {
        return epoch(&format!("{}-{}-{}T{}:{}:{}Z", &t[0..4], &t[4..6], &t[6..8], &t[9..11], &t[11..13], &t[13..15]));
    }
    epoch(&log_key_time(key)?)
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ`.
pub fn epoch(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?)
}

/// Checks one chain. `log` fetches a log file's bytes by key (`None`: not there);
/// `present_logs` are the log keys the store holds for this account and region, to find
/// the ones no digest lists.
pub fn check(
    account: &str,
    region: &str,
    mut digests: Vec<DigestObject>,
    keys: &PublicKeys,
    log: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
    present_logs: &BTreeSet<String>,
) -> ChainReport {
    let mut report = ChainReport { account: account.to_string(), region: region.to_string(), ..Default::default() };
    digests.sort_by(|a, b| key_time(&a.key).cmp(&key_time(&b.key)).then(a.key.cmp(&b.key)));
    let keys_present: BTreeSet<&str> = digests.iter().map(|d| d.key.as_str()).collect();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    // The previous hourly digest: (key, hash, signature, end time).
    let mut previous: Option<(String, String, Option<String>, String)> = None;
    let mut previous_backfill: Option<(String, String, Option<String>, String)> = None;
    let mut newest_end: Option<String> = None;
    for object in &digests {
        report.digests_checked += 1;
        let digest = match Digest::from_gzip(&object.gz, &object.key) {
            Ok(d) => d,
            Err(e) => {
                report.findings.push(Finding::DigestUnreadable { key: object.key.clone(), message: e.to_string() });
                continue;
            }
        };
        let f = &digest.fields;
        let mut valid = true;
        let bucket_moved = object.bucket.as_deref().is_some_and(|b| b != f.digest_s3_bucket);
        if f.digest_s3_object != object.key || bucket_moved {
            report.findings.push(Finding::DigestMoved {
                key: object.key.clone(),
                names: format!("{}/{}", f.digest_s3_bucket, f.digest_s3_object),
            });
            valid = false;
        }
        match object.signature.as_deref() {
            None => report.signatures_unchecked += 1,
            Some(hex) => match (crate::unhex(hex), keys.get(&f.digest_public_key_fingerprint)) {
                (None, _) => {
                    report.findings.push(Finding::SignatureNotHex { key: object.key.clone() });
                    valid = false;
                }
                (Some(_), None) => {
                    report.findings.push(Finding::UnknownKey {
                        key: object.key.clone(),
                        fingerprint: f.digest_public_key_fingerprint.clone(),
                    });
                    valid = false;
                }
                (Some(sig), Some(der)) => {
                    if !verify(der, digest.string_to_sign().as_bytes(), &sig) {
                        report.findings.push(Finding::InvalidSignature { key: object.key.clone() });
                        valid = false;
                    }
                }
            },
        }
        // Backfill digests (late files) chain among themselves, as the AWS CLI walks them:
        // links are checked, hours are not (they are written when late files arrive).
        let backfill = Digest::is_backfill_key(&object.key);
        let previous = if backfill { &mut previous_backfill } else { &mut previous };
        match (&*previous, &f.previous_digest_s3_object) {
            (Some((pkey, phash, psig, pend)), Some(link)) if link == pkey => {
                let hash_ok = f.previous_digest_hash_value.as_deref() == Some(phash.as_str());
                let sig_ok = psig.is_none() || f.previous_digest_signature.as_deref() == psig.as_deref();
                if !hash_ok || !sig_ok {
                    report.findings.push(Finding::DigestAltered { key: pkey.clone(), next: object.key.clone() });
                    valid = false;
                }
                if !backfill {
                    gap(&mut report, pkey, pend, &object.key, &f.digest_start_time, false);
                }
            }
            (_, Some(link)) if !keys_present.contains(link.as_str()) => {
                // The chain points at a digest that is not there (deleted), or before
                // the range: only the first is a finding.
                if let Some((pkey, _, _, pend)) = &*previous {
                    report
                        .findings
                        .push(Finding::DigestMissing { key: link.clone(), referenced_by: object.key.clone() });
                    if !backfill {
                        gap(&mut report, pkey, pend, &object.key, &f.digest_start_time, false);
                    }
                }
            }
            (Some((pkey, _, _, pend)), None) if !backfill => {
                gap(&mut report, pkey, pend, &object.key, &f.digest_start_time, true);
            }
            _ => {}
        }
        *previous = Some((object.key.clone(), digest.hash(), object.signature.clone(), f.digest_end_time.clone()));
        if !backfill && newest_end.as_deref() < Some(f.digest_end_time.as_str()) {
            newest_end = Some(f.digest_end_time.clone());
        }
        for entry in &f.log_files {
            listed.insert(entry.s3_object.clone());
            match log(&entry.s3_object) {
                None => {
                    report.logs_missing += 1;
                    report
                        .findings
                        .push(Finding::LogMissing { key: entry.s3_object.clone(), digest: object.key.clone() });
                }
                Some(gz) => match crate::gunzip(&gz) {
                    Err(e) => {
                        report.logs_altered += 1;
                        report.findings.push(Finding::LogUnreadable {
                            key: entry.s3_object.clone(),
                            digest: object.key.clone(),
                            message: e.to_string(),
                        });
                    }
                    Ok(raw) if crate::sha256_hex(&raw) != entry.hash_value.to_ascii_lowercase() => {
                        report.logs_altered += 1;
                        report
                            .findings
                            .push(Finding::LogAltered { key: entry.s3_object.clone(), digest: object.key.clone() });
                    }
                    Ok(_) => report.logs_valid += 1,
                },
            }
        }
        if valid {
            report.digests_valid += 1;
        }
    }
    // Log files delivered before the newest digest's end that no digest lists.
    if let Some(end) = newest_end.as_deref().and_then(epoch) {
        for key in present_logs.iter().filter(|k| !listed.contains(*k)) {
            let delivered = log_key_time(key).and_then(|t| epoch(&t));
            if delivered.is_some_and(|t| t < end) {
                report.logs_unlisted += 1;
                report.findings.push(Finding::LogUnlisted { key: key.clone() });
            }
        }
    }
    report
}

/// Records the hours between `prev_end` and `start` (digests are hourly: any missing hour
/// is a gap), or a restart.
fn gap(report: &mut ChainReport, after: &str, prev_end: &str, before: &str, start: &str, restarted: bool) {
    let hours = match (epoch(prev_end), epoch(start)) {
        (Some(a), Some(b)) if b > a + 60 => (b - a + 3599) / 3600,
        _ => 0,
    };
    if hours > 0 || restarted {
        report.gaps += 1;
        report.findings.push(Finding::ChainGap { after: after.into(), before: before.into(), hours, restarted });
    }
}

/// The delivery time a log file key carries (`..._20261102T0105Z_abc.json.gz`) as
/// `YYYY-MM-DDTHH:MM:00Z`.
fn log_key_time(key: &str) -> Option<String> {
    let name = key.rsplit('/').next()?;
    let t = name.split('_').find(|p| {
        let b = p.as_bytes();
        b.len() == 14 && b[8] == b'T' && b[13] == b'Z' && b[..8].iter().chain(&b[9..13]).all(u8::is_ascii_digit)
    })?;
    Some(format!("{}-{}-{}T{}:{}:00Z", &t[0..4], &t[4..6], &t[6..8], &t[9..11], &t[11..13]))
}

/// Groups reports' counts for a summary line.
pub fn totals(reports: &[ChainReport]) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for r in reports {
        for (k, v) in [
            ("digests_checked", r.digests_checked),
            ("digests_valid", r.digests_valid),
            ("signatures_unchecked", r.signatures_unchecked),
            ("logs_valid", r.logs_valid),
            ("logs_altered", r.logs_altered),
            ("logs_missing", r.logs_missing),
            ("logs_unlisted", r.logs_unlisted),
            ("gaps", r.gaps),
            ("problems", r.findings.len()),
        ] {
            *t.entry(k).or_default() += v;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{DigestSpec, SignedDigest, Signer, gzip};

    const ACCOUNT: &str = "111122223333";

    #[test]
    fn a_log_file_suffix_that_looks_like_a_time_is_not_taken_for_one() {
        // The 16 random characters of a log file's name can have a `T` where a digest's
        // time has it.
        let log = "AWSLogs/1/CloudTrail/ap-northeast-1/2026/11/02/1_CloudTrail_ap-northeast-1_20261102T0155Z_cj2bcxdRTsVhBi4U.json.gz";
        assert_eq!(key_time(log), None);
        assert_eq!(key_epoch(log), epoch("2026-11-02T01:55:00Z"));
        assert_eq!(key_time(&digest_key(3)), Some("20261102T030000Z"));
    }

    fn log_key(hour: u32, n: u32) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/02/{ACCOUNT}_CloudTrail_us-east-1_20261102T{hour:02}{n:02}Z_x{n}.json.gz"
        )
    }

    fn digest_key(hour: u32) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/02/{ACCOUNT}_CloudTrail-Digest_us-east-1_org_us-east-1_20261102T{hour:02}0000Z.json.gz"
        )
    }

    /// Four hourly digests (01..04), each listing two log files delivered in its hour.
    struct Fixture {
        signer: Signer,
        digests: Vec<SignedDigest>,
        logs: BTreeMap<String, Vec<u8>>,
    }

    fn fixture() -> Fixture {
        let signer = Signer::generate().unwrap();
        let mut digests: Vec<SignedDigest> = Vec::new();
        let mut logs = BTreeMap::new();
        for hour in 1..=4u32 {
            let mut files: Vec<(String, String)> = Vec::new();
            for n in 10..12 {
                let raw = format!("{{\"Records\":[{{\"eventID\":\"{hour}-{n}\"}}]}}").into_bytes();
                logs.insert(log_key(hour - 1, n), gzip(&raw));
                files.push((log_key(hour - 1, n), crate::sha256_hex(&raw)));
            }
            let key = digest_key(hour);
            let start = format!("2026-11-02T{:02}:00:00Z", hour - 1);
            let end = format!("2026-11-02T{hour:02}:00:00Z");
            let d = signer
                .digest(&DigestSpec {
                    bucket: "trail-bucket",
                    key: &key,
                    account: ACCOUNT,
                    start: &start,
                    end: &end,
                    previous: digests.last(),
                    logs: &files,
                })
                .unwrap();
            digests.push(d);
        }
        Fixture { signer, digests, logs }
    }

    fn run(f: &Fixture, digests: Vec<DigestObject>, logs: &BTreeMap<String, Vec<u8>>) -> ChainReport {
        let mut keys = PublicKeys::default();
        keys.insert(f.signer.public_key_der());
        let present: BTreeSet<String> = logs.keys().cloned().collect();
        check(ACCOUNT, "us-east-1", digests, &keys, &mut |k| logs.get(k).cloned(), &present)
    }

    fn objects(f: &Fixture) -> Vec<DigestObject> {
        f.digests
            .iter()
            .map(|d| DigestObject {
                bucket: Some("trail-bucket".into()),
                key: d.key.clone(),
                gz: d.gz.clone(),
                signature: Some(d.signature.clone()),
            })
            .collect()
    }

    /// Three backfill digests for late files of hour 01-02, each linking to the one before.
    fn backfills(f: &Fixture, logs: &mut BTreeMap<String, Vec<u8>>) -> Vec<SignedDigest> {
        let mut out: Vec<SignedDigest> = Vec::new();
        for n in 0..3u32 {
            let raw = format!("{{\"Records\":[{{\"eventID\":\"late-{n}\"}}]}}").into_bytes();
            let log = log_key(1, 40 + n);
            logs.insert(log.clone(), gzip(&raw));
            let key = digest_key(2).replace("020000Z.json.gz", &format!("02000{n}Z_backfill.json.gz"));
            let d = f
                .signer
                .digest(&DigestSpec {
                    bucket: "trail-bucket",
                    key: &key,
                    account: ACCOUNT,
                    start: "2026-11-02T01:00:00Z",
                    end: "2026-11-02T02:00:00Z",
                    previous: out.last(),
                    logs: &[(log, crate::sha256_hex(&raw))],
                })
                .unwrap();
            out.push(d);
        }
        out
    }

    #[test]
    fn backfill_digests_are_their_own_chain_beside_the_hourly_one() {
        let f = fixture();
        let mut logs = f.logs.clone();
        let late = backfills(&f, &mut logs);
        let as_object = |d: &SignedDigest| DigestObject {
            bucket: Some("trail-bucket".into()),
            key: d.key.clone(),
            gz: d.gz.clone(),
            signature: Some(d.signature.clone()),
        };
        let mut all = objects(&f);
        all.extend(late.iter().map(as_object));
        let r = run(&f, all, &logs);
        assert!(r.is_clean(), "{:?}", r.findings);
        assert_eq!((r.digests_checked, r.digests_valid, r.logs_valid), (7, 7, 11));
        // The middle backfill digest deleted: the third one's link is missing, the hourly
        // chain is untouched (no gap), and the late file it listed is in no digest.
        let mut all = objects(&f);
        all.extend([as_object(&late[0]), as_object(&late[2])]);
        let r = run(&f, all, &logs);
        assert_eq!(
            r.findings,
            vec![
                Finding::DigestMissing { key: late[1].key.clone(), referenced_by: late[2].key.clone() },
                Finding::LogUnlisted { key: log_key(1, 41) }
            ]
        );
        assert_eq!(r.gaps, 0);
    }

    #[test]
    fn an_untouched_chain_is_valid_end_to_end() {
        let f = fixture();
        let r = run(&f, objects(&f), &f.logs);
        assert!(r.is_clean(), "{:?}", r.findings);
        assert_eq!((r.digests_checked, r.digests_valid, r.logs_valid, r.signatures_unchecked), (4, 4, 8, 0));
    }

    #[test]
    fn an_edited_log_file_is_altered_and_a_deleted_one_missing() {
        let f = fixture();
        let mut logs = f.logs.clone();
        let edited = log_key(1, 10);
        logs.insert(edited.clone(), gzip(b"{\"Records\":[]}"));
        let deleted = log_key(2, 11);
        logs.remove(&deleted);
        let r = run(&f, objects(&f), &logs);
        assert_eq!(
            r.findings,
            vec![
                Finding::LogAltered { key: edited, digest: digest_key(2) },
                Finding::LogMissing { key: deleted, digest: digest_key(3) }
            ]
        );
        assert_eq!((r.logs_valid, r.logs_altered, r.logs_missing, r.digests_valid), (6, 1, 1, 4));
    }

    #[test]
    fn a_forged_log_file_no_digest_lists_is_reported() {
        let f = fixture();
        let mut logs = f.logs.clone();
        let forged = log_key(2, 30);
        logs.insert(forged.clone(), gzip(b"{\"Records\":[]}"));
        // Delivered after the newest digest's hour: not yet listed, not a finding.
        logs.insert(log_key(4, 5), gzip(b"{\"Records\":[]}"));
        let r = run(&f, objects(&f), &logs);
        assert_eq!(r.findings, vec![Finding::LogUnlisted { key: forged }]);
    }

    #[test]
    fn an_edited_digest_fails_its_signature_and_breaks_the_next_link() {
        let f = fixture();
        let mut digests = objects(&f);
        // Re-written without one of its log files, and re-compressed: not what was signed.
        let mut fields: crate::digest::DigestFields =
            serde_json::from_slice(&crate::gunzip(&digests[1].gz).unwrap()).unwrap();
        fields.log_files.pop();
        digests[1].gz = gzip(&serde_json::to_vec(&fields).unwrap());
        let r = run(&f, digests, &f.logs);
        assert!(r.findings.contains(&Finding::InvalidSignature { key: digest_key(2) }), "{:?}", r.findings);
        assert!(
            r.findings.contains(&Finding::DigestAltered { key: digest_key(2), next: digest_key(3) }),
            "{:?}",
            r.findings
        );
        // The file the edit dropped from the digest is now listed by none.
        assert!(r.findings.contains(&Finding::LogUnlisted { key: log_key(1, 11) }), "{:?}", r.findings);
    }

    #[test]
    fn a_deleted_digest_is_a_gap_with_its_hours() {
        let f = fixture();
        let mut digests = objects(&f);
        digests.remove(2);
        let r = run(&f, digests, &f.logs);
        assert!(r.findings.contains(&Finding::DigestMissing { key: digest_key(3), referenced_by: digest_key(4) }));
        assert!(
            r.findings.contains(&Finding::ChainGap {
                after: digest_key(2),
                before: digest_key(4),
                hours: 1,
                restarted: false
            }),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn a_digest_moved_another_signer_and_bad_signatures_are_each_reported() {
        let f = fixture();
        let mut digests = objects(&f);
        let other = Signer::generate().unwrap();
        digests[0].signature = Some("not hex".into());
        digests[1].signature = Some(other.sign_hex(b"anything").unwrap());
        digests[3].key = digests[3].key.replace("/11/02/", "/11/03/");
        let r = run(&f, digests, &f.logs);
        assert!(r.findings.contains(&Finding::SignatureNotHex { key: digest_key(1) }), "{:?}", r.findings);
        assert!(r.findings.contains(&Finding::InvalidSignature { key: digest_key(2) }), "{:?}", r.findings);
        assert!(
            r.findings
                .iter()
                .any(|x| matches!(x, Finding::DigestMoved { names, .. } if *names == format!("trail-bucket/{}", digest_key(4)))),
            "{:?}",
            r.findings
        );
        // Signed by a key the list does not hold.
        let mut unknown = objects(&f);
        let foreign = other
            .digest(&DigestSpec {
                bucket: "trail-bucket",
                key: &digest_key(1),
                account: ACCOUNT,
                start: "2026-11-02T00:00:00Z",
                end: "2026-11-02T01:00:00Z",
                previous: None,
                logs: &[],
            })
            .unwrap();
        unknown[0] =
            DigestObject { bucket: None, key: foreign.key.clone(), gz: foreign.gz, signature: Some(foreign.signature) };
        let r = run(&f, unknown, &f.logs);
        assert!(
            r.findings.contains(&Finding::UnknownKey { key: digest_key(1), fingerprint: other.fingerprint() }),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn a_chain_that_restarts_says_logging_was_stopped() {
        let f = fixture();
        let mut digests = objects(&f);
        // Hour 4 re-signed as the start of a new chain, two hours after hour 2 ended.
        let restart = f
            .signer
            .digest(&DigestSpec {
                bucket: "trail-bucket",
                key: &digest_key(4),
                account: ACCOUNT,
                start: "2026-11-02T03:00:00Z",
                end: "2026-11-02T04:00:00Z",
                previous: None,
                logs: &[],
            })
            .unwrap();
        digests.remove(2);
        digests[2] =
            DigestObject { bucket: None, key: restart.key, gz: restart.gz, signature: Some(restart.signature) };
        let mut logs = f.logs.clone();
        logs.retain(|k, _| !k.contains("T02") && !k.contains("T03"));
        let r = run(&f, digests, &logs);
        assert_eq!(
            r.findings,
            vec![Finding::ChainGap { after: digest_key(2), before: digest_key(4), hours: 1, restarted: true }]
        );
    }

    #[test]
    fn unsigned_digests_are_counted_not_failed() {
        let f = fixture();
        let digests: Vec<DigestObject> =
            objects(&f).into_iter().map(|d| DigestObject { signature: None, ..d }).collect();
        let r = run(&f, digests, &f.logs);
        assert!(r.is_clean(), "{:?}", r.findings);
        assert_eq!(r.signatures_unchecked, 4);
    }

    #[test]
    fn key_times_sort_digests_and_backfills_alike() {
        assert_eq!(key_time(&digest_key(3)), Some("20261102T030000Z"));
        assert_eq!(
            key_time("a/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261102T030000Z_backfill.json.gz"),
            Some("20261102T030000Z")
        );
        assert_eq!(epoch("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(log_key_time(&log_key(5, 7)).as_deref(), Some("2026-11-02T05:07:00Z"));
    }

    #[test]
    fn a_digest_that_names_another_bucket_is_reported_as_moved() {
        let f = fixture();
        let mut digests = objects(&f);
        digests[1].bucket = Some("copy-bucket".into());
        let r = run(&f, digests, &f.logs);
        assert_eq!(
            r.findings,
            vec![Finding::DigestMoved { key: digest_key(2), names: format!("trail-bucket/{}", digest_key(2)) }]
        );
    }

    #[test]
    fn bad_input_is_reported_with_its_key_and_the_walk_goes_on() {
        let f = fixture();
        let mut digests = objects(&f);
        digests[0].gz = b"not gzip at all".to_vec();
        digests[1].signature = Some("zz-not-hex".into());
        digests[2].bucket = Some("another-bucket".into());
        digests[3].gz = gzip(b"{ not JSON");
        let r = run(&f, digests, &f.logs);
        let keys: Vec<(&str, String)> = r
            .findings
            .iter()
            .map(|x| match x {
                Finding::DigestUnreadable { key, .. } => ("unreadable", key.clone()),
                Finding::SignatureNotHex { key } => ("not hex", key.clone()),
                Finding::DigestMoved { key, .. } => ("moved", key.clone()),
                Finding::DigestAltered { key, .. } => ("altered", key.clone()),
                Finding::LogUnlisted { key } => ("unlisted", key.clone()),
                other => ("other", format!("{other:?}")),
            })
            .collect();
        // The unreadable digest's two log files are listed by no digest now; everything
        // else is checked as usual.
        assert_eq!(
            keys,
            vec![
                ("unreadable", digest_key(1)),
                ("not hex", digest_key(2)),
                ("moved", digest_key(3)),
                // The next digest links the signature the bad one replaced.
                ("altered", digest_key(2)),
                ("unreadable", digest_key(4)),
                ("unlisted", log_key(0, 10)),
                ("unlisted", log_key(0, 11)),
            ]
        );
        assert!(format!("{:?}", r.findings[4]).contains("not a digest"), "{:?}", r.findings[4]);
        assert_eq!((r.digests_checked, r.logs_valid), (4, 4));
    }
}
