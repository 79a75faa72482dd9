//! Admission: "is this key a log file we want, and not yet in the lake?", asked the same
//! way by backfill (of every listed object) and by the SQS service (of every announced
//! object, and again once its size is known from the download).

use std::collections::HashSet;

use lake::{KnownSources, LedgerEntry};

use crate::layout;

/// What admission says of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A log file the lake does not have: ingest it.
    Admit,
    /// Not a CloudTrail log file (a digest, another service's log, a folder marker, ...).
    NotALog,
    /// Already in the lake (same name and size), or already taken by this run.
    AlreadyIngested,
}

/// The objects in the lake (from its ledger) and those taken since the last commit.
#[derive(Debug, Default)]
pub struct Admission {
    known: KnownSources,
    /// Canonical names handed to the lanes and not yet committed.
    pending: HashSet<String>,
}

impl Admission {
    /// Admission against the lake's ledger as loaded in `known`.
    pub fn new(known: KnownSources) -> Admission {
        Admission { known, pending: HashSet::new() }
    }

    /// Judges one object by its key and, when known, its size: a name taken by this run
    /// is a duplicate whatever its size; a name in the ledger only with the same size (a
    /// rewritten object is ingested again).
    pub fn verdict(&self, key: &str, size: Option<i64>) -> Verdict {
        if !layout::is_ingestible(key) {
            return Verdict::NotALog;
        }
        let name = layout::canonical_name(key);
        if self.pending.contains(name) || size.is_some_and(|s| self.known.contains(name, s)) {
            return Verdict::AlreadyIngested;
        }
        Verdict::Admit
    }

    /// Judges a digest file (log file integrity): admitted when not yet checked.
    pub fn digest_verdict(&self, key: &str, size: Option<i64>) -> Verdict {
        if !matches!(layout::classify(key), layout::KeyKind::Digest) || !key.ends_with(".json.gz") {
            return Verdict::NotALog;
        }
        let name = layout::canonical_name(key);
        if self.pending.contains(name) || size.is_some_and(|s| self.known.contains(name, s)) {
            return Verdict::AlreadyIngested;
        }
        Verdict::Admit
    }

    /// Notes that `key` was handed to the lanes: a second announcement of it before the
    /// commit is a duplicate.
    pub fn take(&mut self, key: &str) {
        self.pending.insert(layout::canonical_name(key).to_string());
    }

    /// The run's ledger entries were committed: they are known from now on.
    pub fn committed(&mut self, entries: &[LedgerEntry]) {
        for e in entries {
            self.known.insert(&e.name, e.size);
        }
        self.pending.clear();
    }

    /// The run's pending objects were not committed (they will be announced again).
    pub fn abandon_pending(&mut self) {
        self.pending.clear();
    }

    /// Replaces what the lake is known to hold (after another writer committed).
    pub fn reload(&mut self, known: KnownSources) {
        self.known = known;
    }

    /// Whether an entry of the ledger as reloaded names one of `entries`.
    pub fn any_known(&self, entries: &[LedgerEntry]) -> bool {
        entries.iter().any(|e| self.known.contains(&e.name, e.size))
    }

    /// How many objects the ledger holds.
    pub fn known_len(&self) -> usize {
        self.known.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261102T0000Z_abc.json.gz";

    #[test]
    fn non_logs_are_refused_before_anything_else() {
        let a = Admission::default();
        assert_eq!(
            a.verdict("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/02/x.json.gz", Some(1)),
            Verdict::NotALog
        );
        assert_eq!(a.verdict(LOG, None), Verdict::Admit);
    }

    #[test]
    fn a_known_name_is_a_duplicate_only_at_the_same_size() {
        let mut known = KnownSources::default();
        known.insert(layout::canonical_name(LOG), 100);
        let a = Admission::new(known);
        assert_eq!(a.verdict(LOG, Some(100)), Verdict::AlreadyIngested);
        assert_eq!(a.verdict(LOG, Some(101)), Verdict::Admit);
        // Without a size (CloudTrail's SNS message has none) only the download can tell.
        assert_eq!(a.verdict(LOG, None), Verdict::Admit);
    }

    #[test]
    fn a_name_taken_by_this_run_is_a_duplicate_until_committed_or_abandoned() {
        let mut a = Admission::default();
        a.take(LOG);
        assert_eq!(a.verdict(LOG, None), Verdict::AlreadyIngested);
        a.abandon_pending();
        assert_eq!(a.verdict(LOG, None), Verdict::Admit);
        a.take(LOG);
        let entry = LedgerEntry {
            name: layout::canonical_name(LOG).into(),
            uri: format!("s3://b/{LOG}"),
            size: 7,
            etag: None,
            events: 1,
            error: None,
            sha256: None,
            kind: Default::default(),
        };
        a.committed(std::slice::from_ref(&entry));
        assert_eq!(a.verdict(LOG, Some(7)), Verdict::AlreadyIngested);
        assert!(a.any_known(&[entry]));
    }
}
