//! One account/region's digests and the log files they list, checked as the AWS CLI's
//! `validate-logs` checks them (each digest's location and signature, the chain followed
//! through `previousDigestS3Object`, each log file's SHA-256), and a little stricter: a
//! link must also carry the previous digest's real hash and signature, an hour with no
//! digest is a gap, and every log file that no digest lists is reported: `log_unlisted` when
//! its hour is one the chain's digests cover (a forgery, or a digest that lost it), and
//! `log_uncovered` when no digest covers its hour at all (before the chain's first digest,
//! after its last, while it was stopped, or in an account/region with no digest), which
//! proves nothing either way. See [`UncoveredPolicy`] for what is not a failure.

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
    /// A log file no digest lists, delivered in an hour the chain's digests cover (or, by
    /// their links, should: a deleted digest's hour).
    LogUnlisted { key: String },
    /// A log file no digest lists, delivered when no digest covers: nothing vouches for it.
    LogUncovered { key: String, reason: Uncovered },
    /// An account/region whose log files have no digest at all in the store (each is also a
    /// `LogUncovered` with reason `no_digests`): how many, and the first and last of them.
    ChainWithoutDigests { logs: usize, first: String, last: String, from: Option<String>, to: Option<String> },
    /// Information: a log file delivered after the chain's newest digest, whose digest can
    /// still be on its way (see [`UncoveredPolicy::grace_secs`]).
    NotYetCovered { key: String },
    /// Information: a log file no digest covers, delivered in a period the caller accepts
    /// as uncovered (e.g. before validation was turned on).
    UncoveredAccepted { key: String, reason: Uncovered },
}

impl Finding {
    /// True for the findings about log files no digest covers (every other finding says a
    /// digest, a signature, a link, an hour or a log file is wrong).
    pub fn is_uncovered(&self) -> bool {
        matches!(self, Finding::LogUncovered { .. } | Finding::ChainWithoutDigests { .. })
    }
}

/// Why no digest covers a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Uncovered {
    /// Its account/region has no digest at all.
    NoDigests,
    /// Delivered before the chain's first digest starts (e.g. before validation was on).
    BeforeFirstDigest,
    /// Delivered between two digests that do not link (the chain restarted: logging or
    /// validation was stopped), or in hours the digests checked do not reach.
    BetweenDigests,
    /// Delivered after the chain's newest digest ends (validation or logging stopped, or
    /// the newest digests are gone), too long after it to be on its way still.
    AfterLastDigest,
}

/// How long a log file delivered after its chain's newest digest may wait for its digest:
/// digests are written hourly and delivered after their hour.
pub const NOT_YET_COVERED_SECS: i64 = 2 * 3600;

/// How log files no digest covers are judged: each is a failure (`log_uncovered`) unless
/// it is in the newest hours of a live trail (`not_yet_covered`) or in a period the caller
/// accepts (`uncovered_accepted`); both are counted, neither is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UncoveredPolicy {
    /// Seconds since the epoch: uncovered log files delivered before it are accepted.
    pub accept_before: Option<i64>,
    /// Seconds since the epoch: uncovered log files delivered at or after it are accepted.
    pub accept_after: Option<i64>,
    /// Seconds since the epoch: when the store was read, as far as is known (S3: now; a
    /// folder: see [`crate::folder::folder_as_of`]). A log file delivered more than
    /// `grace_secs` before it is not "not yet covered": its digest would be there.
    pub as_of: Option<i64>,
    /// A log file delivered less than this after its chain's newest digest ends (and less
    /// than this before `as_of`) is not yet covered rather than uncovered.
    pub grace_secs: i64,
}

impl Default for UncoveredPolicy {
    fn default() -> Self {
        UncoveredPolicy { accept_before: None, accept_after: None, as_of: None, grace_secs: NOT_YET_COVERED_SECS }
    }
}

impl UncoveredPolicy {
    fn accepts(&self, delivered: Option<i64>) -> bool {
        delivered
            .is_some_and(|t| self.accept_before.is_some_and(|b| t < b) || self.accept_after.is_some_and(|a| t >= a))
    }

    /// True when a log file delivered at `t`, after its chain's newest digest `end`, may
    /// still get its digest.
    fn not_yet(&self, t: i64, end: i64) -> bool {
        t < end + self.grace_secs && self.as_of.is_none_or(|now| t > now - self.grace_secs)
    }
}

/// What a store holds of a chain's digests at any time, the hours checked aside
/// (`--since`/`--until`): how many, and the end times of the oldest and newest hourly ones,
/// from their keys. It tells a log file outside the digests checked from one no digest
/// covers at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub digests: usize,
    /// (oldest end, newest end) of the hourly (not backfill) digests, seconds since the epoch.
    pub hourly_ends: Option<(i64, i64)>,
}

impl History {
    /// Counts one digest key.
    pub fn add(&mut self, key: &str) {
        self.digests += 1;
        if Digest::is_backfill_key(key) {
            return;
        }
        if let Some(t) = key_epoch(key) {
            self.hourly_ends = Some(self.hourly_ends.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        }
    }

    /// The history of exactly these digest keys.
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a str>) -> History {
        let mut h = History::default();
        for key in keys {
            h.add(key);
        }
        h
    }
}

/// One account/region to check.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// Its digests in the hours checked, as found.
    pub digests: Vec<DigestObject>,
    /// The log keys the store holds for it in the hours checked, to find those no digest
    /// lists.
    pub logs: &'a BTreeSet<String>,
    /// Its digests in the whole store.
    pub history: History,
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
    /// Log files no digest covers, failures (`log_uncovered` findings).
    pub logs_uncovered: usize,
    /// Log files no digest covers in a period accepted as uncovered (`uncovered_accepted`).
    pub logs_uncovered_accepted: usize,
    /// Log files after the newest digest whose digest can still come (`not_yet_covered`).
    pub logs_not_yet_covered: usize,
    /// What is wrong: every entry is a failure.
    pub findings: Vec<Finding>,
    /// What is counted but not a failure: `not_yet_covered`, `uncovered_accepted`, and
    /// `chain_without_digests` when all its files are accepted.
    pub notes: Vec<Finding>,
}

impl ChainReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings that something is wrong besides log files no digest covers: tampering,
    /// or a store that cannot be checked (an unknown key, a signature that is not hex).
    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| !f.is_uncovered()).count()
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

/// Checks one chain. `log` fetches a log file's bytes by key (`None`: not there); the
/// chain's log files no digest lists are judged by `policy`.
pub fn check(
    chain: Chain<'_>,
    keys: &PublicKeys,
    log: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
    policy: &UncoveredPolicy,
) -> ChainReport {
    let Chain { account, region, mut digests, logs: present_logs, history } = chain;
    let mut report = ChainReport { account: account.to_string(), region: region.to_string(), ..Default::default() };
    digests.sort_by(|a, b| key_time(&a.key).cmp(&key_time(&b.key)).then(a.key.cmp(&b.key)));
    let keys_present: BTreeSet<&str> = digests.iter().map(|d| d.key.as_str()).collect();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    // The hours the digests cover, or by their links should: (start, end) in seconds.
    let mut covered: Vec<(i64, i64)> = Vec::new();
    // The previous hourly digest: (key, hash, signature, end time).
    let mut previous: Option<(String, String, Option<String>, String)> = None;
    let mut previous_backfill: Option<(String, String, Option<String>, String)> = None;
    for object in &digests {
        report.digests_checked += 1;
        let digest = match Digest::from_gzip(&object.gz, &object.key) {
            Ok(d) => d,
            Err(e) => {
                report.findings.push(Finding::DigestUnreadable { key: object.key.clone(), message: e.to_string() });
                // Its key still names the hour it covered.
                covered.extend(key_epoch(&object.key).map(|end| (end - 3600, end)));
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
        let start = epoch(&f.digest_start_time);
        covered.extend(start.zip(epoch(&f.digest_end_time)).or_else(|| key_epoch(&object.key).map(|e| (e - 3600, e))));
        let previous = if backfill { &mut previous_backfill } else { &mut previous };
        // A link back covers the hours since the previous digest (a deleted digest's hour):
        // a file there is unlisted, not uncovered. A restart (no link) covers nothing.
        if let (false, Some(_), Some((_, _, _, pend)), Some(start)) =
            (backfill, &f.previous_digest_s3_object, &*previous, start)
            && let Some(pend) = epoch(pend)
        {
            covered.push((pend, start));
        }
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
    let unlisted = present_logs.iter().filter(|k| !listed.contains(*k));
    judge_unlisted(&mut report, unlisted, covered, &digests, history, policy);
    report
}

/// Sorts out the log files no digest lists: unlisted when their hour is covered (or by the
/// chain's links should be), else uncovered, not yet covered or accepted.
fn judge_unlisted<'a>(
    report: &mut ChainReport,
    unlisted: impl Iterator<Item = &'a String>,
    covered: Vec<(i64, i64)>,
    digests: &[DigestObject],
    history: History,
    policy: &UncoveredPolicy,
) {
    let covered = merge(covered);
    // The span of the chain's hourly digests: in the whole store, and among those checked.
    let checked = History::of(digests.iter().map(|d| d.key.as_str())).hourly_ends;
    let ends = [history.hourly_ends, checked].into_iter().flatten();
    let first_start = ends.clone().map(|(oldest, _)| oldest - 3600).min();
    let newest_end = ends.map(|(_, newest)| newest).max();
    let no_digests = digests.is_empty() && history.digests == 0;
    let mut without: Vec<(Option<i64>, &String)> = Vec::new();
    for key in unlisted {
        let delivered = log_key_time(key).and_then(|t| epoch(&t));
        let reason = match delivered {
            _ if no_digests => {
                without.push((delivered, key));
                Uncovered::NoDigests
            }
            Some(t) if !within(&covered, t) => {
                // A log key has the minute only: a file that may have been delivered after
                // the newest digest's end is after it.
                if newest_end.is_none_or(|end| t + 60 > end) {
                    if newest_end.is_some_and(|end| policy.not_yet(t, end)) {
                        report.logs_not_yet_covered += 1;
                        report.notes.push(Finding::NotYetCovered { key: key.clone() });
                        continue;
                    }
                    Uncovered::AfterLastDigest
                } else if first_start.is_some_and(|start| t < start) {
                    Uncovered::BeforeFirstDigest
                } else {
                    Uncovered::BetweenDigests
                }
            }
            // In a covered hour; or a key with no time in it, which CloudTrail does not
            // write: with digests about, both are what a forgery looks like.
            _ => {
                report.logs_unlisted += 1;
                report.findings.push(Finding::LogUnlisted { key: key.clone() });
                continue;
            }
        };
        if policy.accepts(delivered) {
            report.logs_uncovered_accepted += 1;
            report.notes.push(Finding::UncoveredAccepted { key: key.clone(), reason });
        } else {
            report.logs_uncovered += 1;
            report.findings.push(Finding::LogUncovered { key: key.clone(), reason });
        }
    }
    // An account/region with no digest has no other finding: its summary goes first, with
    // the failures when any of its files is one.
    without.sort();
    if let (Some((_, first)), Some((_, last))) = (without.first(), without.last()) {
        let summary = Finding::ChainWithoutDigests {
            logs: without.len(),
            first: (*first).clone(),
            last: (*last).clone(),
            from: log_key_time(first),
            to: log_key_time(last),
        };
        let list = if report.logs_uncovered > 0 { &mut report.findings } else { &mut report.notes };
        list.insert(0, summary);
    }
}

/// Intervals sorted and joined where they meet (within a minute: digests' times are
/// written to the second, log keys' to the minute).
fn merge(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 + 60 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// True when the whole minute a log key names, from `t`, is inside one of `spans`
/// (merged): whenever in that minute it was delivered, a digest covers it.
fn within(spans: &[(i64, i64)], t: i64) -> bool {
    let i = spans.partition_point(|(s, _)| *s <= t);
    i > 0 && t + 60 <= spans[i - 1].1
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

/// Groups reports' counts for a summary line (`problems`: findings other than log files no
/// digest covers, which `logs_uncovered` counts).
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
            ("logs_uncovered", r.logs_uncovered),
            ("logs_uncovered_accepted", r.logs_uncovered_accepted),
            ("logs_not_yet_covered", r.logs_not_yet_covered),
            ("problems", r.problems()),
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
        run_with(f, digests, logs, &UncoveredPolicy::default())
    }

    /// As the store would be checked whole: its history is the digests given.
    fn run_with(
        f: &Fixture,
        digests: Vec<DigestObject>,
        logs: &BTreeMap<String, Vec<u8>>,
        policy: &UncoveredPolicy,
    ) -> ChainReport {
        let mut keys = PublicKeys::default();
        keys.insert(f.signer.public_key_der());
        let present: BTreeSet<String> = logs.keys().cloned().collect();
        let history = History::of(digests.iter().map(|d| d.key.as_str()));
        let chain = Chain { account: ACCOUNT, region: "us-east-1", digests, logs: &present, history };
        check(chain, &keys, &mut |k| logs.get(k).cloned(), policy)
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
        assert_eq!(r.notes, vec![Finding::NotYetCovered { key: log_key(4, 5) }]);
        assert_eq!((r.logs_unlisted, r.logs_not_yet_covered, r.problems()), (1, 1, 1));
    }

    fn empty_log() -> Vec<u8> {
        gzip(b"{\"Records\":[]}")
    }

    #[test]
    fn log_files_no_digest_covers_are_uncovered_with_their_reason() {
        let f = fixture();
        // The first digest gone from the store (validation turned on at 01:00): its two
        // files are before the chain's first digest. Digests cover 01:00-04:00.
        let digests = objects(&f).split_off(1);
        let mut logs = f.logs.clone();
        for (hour, minute) in [(5, 30), (6, 0), (9, 15)] {
            logs.insert(log_key(hour, minute), empty_log());
        }
        let r = run(&f, digests, &logs);
        let uncovered = |key: String, reason| Finding::LogUncovered { key, reason };
        assert_eq!(
            r.findings,
            vec![
                uncovered(log_key(0, 10), Uncovered::BeforeFirstDigest),
                uncovered(log_key(0, 11), Uncovered::BeforeFirstDigest),
                // Two hours and more after the newest digest's end: no digest is coming.
                uncovered(log_key(6, 0), Uncovered::AfterLastDigest),
                uncovered(log_key(9, 15), Uncovered::AfterLastDigest),
            ]
        );
        assert_eq!(r.notes, vec![Finding::NotYetCovered { key: log_key(5, 30) }]);
        assert_eq!((r.logs_uncovered, r.logs_not_yet_covered, r.logs_valid, r.problems()), (4, 1, 6, 0));
        assert!(r.findings.iter().all(Finding::is_uncovered));
    }

    #[test]
    fn the_newest_hours_are_not_yet_covered_only_while_a_digest_can_still_come() {
        let f = fixture();
        let mut logs = f.logs.clone();
        logs.insert(log_key(5, 30), empty_log());
        // Read long after (over S3, now): its digest would be there by now.
        let late = UncoveredPolicy { as_of: epoch("2026-11-03T00:00:00Z"), ..Default::default() };
        let r = run_with(&f, objects(&f), &logs, &late);
        assert_eq!(r.findings, vec![Finding::LogUncovered { key: log_key(5, 30), reason: Uncovered::AfterLastDigest }]);
        // Read at 06:00: it may still come.
        let live = UncoveredPolicy { as_of: epoch("2026-11-02T06:00:00Z"), ..Default::default() };
        let r = run_with(&f, objects(&f), &logs, &live);
        assert!(r.is_clean(), "{:?}", r.findings);
        assert_eq!(r.logs_not_yet_covered, 1);
    }

    #[test]
    fn accepted_periods_are_counted_and_never_excuse_an_unlisted_file() {
        let f = fixture();
        let digests = objects(&f).split_off(1);
        let mut logs = f.logs.clone();
        logs.insert(log_key(9, 15), empty_log());
        let forged = log_key(2, 30);
        logs.insert(forged.clone(), empty_log());
        let policy = UncoveredPolicy {
            accept_before: epoch("2026-11-02T01:00:00Z"),
            accept_after: epoch("2026-11-02T08:00:00Z"),
            ..Default::default()
        };
        let r = run_with(&f, digests.clone(), &logs, &policy);
        assert_eq!(r.findings, vec![Finding::LogUnlisted { key: forged.clone() }]);
        assert_eq!(
            r.notes,
            vec![
                Finding::UncoveredAccepted { key: log_key(0, 10), reason: Uncovered::BeforeFirstDigest },
                Finding::UncoveredAccepted { key: log_key(0, 11), reason: Uncovered::BeforeFirstDigest },
                Finding::UncoveredAccepted { key: log_key(9, 15), reason: Uncovered::AfterLastDigest },
            ]
        );
        assert_eq!((r.logs_uncovered, r.logs_uncovered_accepted, r.logs_unlisted), (0, 3, 1));
        // Accepting everything before a time later than the forgery does not hide it.
        let all = UncoveredPolicy { accept_before: epoch("2027-01-01T00:00:00Z"), ..Default::default() };
        let r = run_with(&f, digests, &logs, &all);
        assert_eq!(r.findings, vec![Finding::LogUnlisted { key: forged }]);
        assert_eq!(r.logs_uncovered_accepted, 3);
    }

    #[test]
    fn an_account_region_without_digests_is_one_finding_and_each_file_uncovered() {
        let f = fixture();
        let r = run(&f, Vec::new(), &f.logs);
        let keys: Vec<String> = f.logs.keys().cloned().collect();
        assert_eq!(
            r.findings[0],
            Finding::ChainWithoutDigests {
                logs: 8,
                first: keys[0].clone(),
                last: keys[7].clone(),
                from: Some("2026-11-02T00:10:00Z".into()),
                to: Some("2026-11-02T03:11:00Z".into()),
            }
        );
        let each: Vec<&Finding> = r.findings[1..].iter().collect();
        assert_eq!(each.len(), 8);
        assert!(each.iter().all(|x| matches!(x, Finding::LogUncovered { reason: Uncovered::NoDigests, .. })));
        assert_eq!((r.logs_uncovered, r.problems()), (8, 0));
        // All of them accepted: counted, and the summary is a note too.
        let policy = UncoveredPolicy { accept_before: epoch("2026-11-03T00:00:00Z"), ..Default::default() };
        let r = run_with(&f, Vec::new(), &f.logs, &policy);
        assert!(r.is_clean(), "{:?}", r.findings);
        assert!(matches!(r.notes[0], Finding::ChainWithoutDigests { logs: 8, .. }), "{:?}", r.notes);
        assert_eq!(r.logs_uncovered_accepted, 8);
    }

    #[test]
    fn hours_out_of_the_range_checked_are_judged_by_the_whole_store() {
        // `--until 02:00` keeps digests 1-2; the store's history has 1-4. A file of 02:10
        // whose digest is checked by none is in the chain's span: between digests, never
        // "not yet covered" (the store has digests after it).
        let f = fixture();
        let mut keys = PublicKeys::default();
        keys.insert(f.signer.public_key_der());
        let all = objects(&f);
        let history = History::of(all.iter().map(|d| d.key.as_str()));
        let present: BTreeSet<String> =
            [log_key(0, 10), log_key(0, 11), log_key(1, 10), log_key(1, 11), log_key(2, 10)].into_iter().collect();
        let chain =
            Chain { account: ACCOUNT, region: "us-east-1", digests: all[..2].to_vec(), logs: &present, history };
        let r = check(chain, &keys, &mut |k| f.logs.get(k).cloned(), &UncoveredPolicy::default());
        assert_eq!(r.findings, vec![Finding::LogUncovered { key: log_key(2, 10), reason: Uncovered::BetweenDigests }]);
        assert_eq!(r.logs_not_yet_covered, 0);
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
        // The chain links over the deleted digest: its hour is one a digest covered, and
        // its files are unlisted (not merely uncovered, which an accepted period excuses).
        for n in [10, 11] {
            assert!(r.findings.contains(&Finding::LogUnlisted { key: log_key(2, n) }), "{:?}", r.findings);
        }
        assert!(!r.findings.iter().any(Finding::is_uncovered), "{:?}", r.findings);
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
        let r = run(&f, digests.clone(), &logs);
        assert_eq!(
            r.findings,
            vec![Finding::ChainGap { after: digest_key(2), before: digest_key(4), hours: 1, restarted: true }]
        );
        // A file delivered while the chain was stopped: no digest covers it.
        logs.insert(log_key(2, 10), empty_log());
        let r = run(&f, digests, &logs);
        assert_eq!(r.findings[1], Finding::LogUncovered { key: log_key(2, 10), reason: Uncovered::BetweenDigests });
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
                // Each unreadable digest's key still names its hour: the files of that
                // hour are unlisted.
                ("unlisted", log_key(0, 10)),
                ("unlisted", log_key(0, 11)),
                ("unlisted", log_key(3, 10)),
                ("unlisted", log_key(3, 11)),
            ]
        );
        assert!(format!("{:?}", r.findings[4]).contains("not a digest"), "{:?}", r.findings[4]);
        assert_eq!((r.digests_checked, r.logs_valid), (4, 4));
    }
}
