//! What ingest counts, in one place: the lanes, a backfill and the SQS service add to one
//! [`Counters`] while they work; a progress bar, the service's statistics line and its
//! metrics endpoint read it; a [`Snapshot`] is its serde form (the service's `--once`
//! summary, the metrics endpoint's Prometheus text).
//!
//! A fact that is both logged and counted is an [`Event`] (in the manner of vector's
//! internal events): one `emit` writes the log line and adds to its counters, so the two
//! cannot drift apart.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Running totals, readable while the work goes on.
#[derive(Debug, Default)]
pub struct Counters {
    /// Objects listed under the source (backfill).
    pub listed: AtomicU64,
    /// Of those, the log files to read (not in the lake yet): a progress bar's total.
    pub to_read: AtomicU64,
    /// Log files, events and (compressed) bytes the lanes have read, committed or not.
    pub files_read: AtomicU64,
    pub events_read: AtomicU64,
    pub bytes_read: AtomicU64,
    /// Inflated bytes since the last flush (for size-triggered flushes; not exported).
    pub pending_inflated: AtomicU64,
    /// Commits, and the log files, events and bytes they hold: what survives a crash.
    pub commits: AtomicU64,
    pub files: AtomicU64,
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    pub files_quarantined: AtomicU64,
    /// Skipped: already in the lake; not a log file (digests, other services' files).
    pub files_already_ingested: AtomicU64,
    pub files_not_logs: AtomicU64,
    /// Digest files checked, and those with a problem (see the `integrity` table).
    pub digests_checked: AtomicU64,
    pub digests_with_problems: AtomicU64,
    /// The SQS service's messages.
    pub messages_received: AtomicU64,
    pub messages_deleted: AtomicU64,
    pub messages_unrecognised: AtomicU64,
    pub messages_failed: AtomicU64,
    /// S3's `s3:TestEvent` messages (sent when a notification is configured).
    pub test_events: AtomicU64,
    /// Calls that failed and were retried.
    pub errors: AtomicU64,
    /// Messages waiting in the queue, as SQS last reported (a gauge).
    pub queue_lag_messages: AtomicU64,
}

/// The counters at one moment, with the same names.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub listed: u64,
    pub to_read: u64,
    pub files_read: u64,
    pub events_read: u64,
    pub bytes_read: u64,
    pub commits: u64,
    pub files: u64,
    pub events: u64,
    pub bytes: u64,
    pub files_quarantined: u64,
    pub files_already_ingested: u64,
    pub files_not_logs: u64,
    pub digests_checked: u64,
    pub digests_with_problems: u64,
    pub messages_received: u64,
    pub messages_deleted: u64,
    pub messages_unrecognised: u64,
    pub messages_failed: u64,
    pub test_events: u64,
    pub errors: u64,
    pub queue_lag_messages: u64,
}

impl Counters {
    /// Adds `n` to `counter` (one of this struct's fields).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            listed: l(&self.listed),
            to_read: l(&self.to_read),
            files_read: l(&self.files_read),
            events_read: l(&self.events_read),
            bytes_read: l(&self.bytes_read),
            commits: l(&self.commits),
            files: l(&self.files),
            events: l(&self.events),
            bytes: l(&self.bytes),
            files_quarantined: l(&self.files_quarantined),
            files_already_ingested: l(&self.files_already_ingested),
            files_not_logs: l(&self.files_not_logs),
            digests_checked: l(&self.digests_checked),
            digests_with_problems: l(&self.digests_with_problems),
            messages_received: l(&self.messages_received),
            messages_deleted: l(&self.messages_deleted),
            messages_unrecognised: l(&self.messages_unrecognised),
            messages_failed: l(&self.messages_failed),
            test_events: l(&self.test_events),
            errors: l(&self.errors),
            queue_lag_messages: l(&self.queue_lag_messages),
        }
    }

    /// Adds `e`'s counts and logs it.
    pub fn emit(&self, e: impl Event) {
        e.emit(self);
    }
}

impl Snapshot {
    /// Prometheus text format: `trailhouse_<name>`, every counter a counter but the queue's
    /// lag, a gauge.
    pub fn prometheus(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or_default();
        let mut out = String::new();
        if let Some(map) = v.as_object() {
            for (k, v) in map {
                let kind = if k == "queue_lag_messages" { "gauge" } else { "counter" };
                out.push_str(&format!("# TYPE trailhouse_{k} {kind}\ntrailhouse_{k} {v}\n"));
            }
        }
        out
    }
}

/// A fact ingest both logs and counts.
pub trait Event {
    fn emit(self, counters: &Counters);
}

/// A log file that could not be decoded, copied to the lake's quarantine.
pub struct FileQuarantined<'a> {
    pub uri: &'a str,
    pub error: &'a str,
}

impl Event for FileQuarantined<'_> {
    fn emit(self, c: &Counters) {
        tracing::warn!(source = %self.uri, error = %self.error, "File quarantined.");
        Counters::add(&c.files_quarantined, 1);
    }
}

/// A log file decoded by a lane (not committed yet).
pub struct FileDecoded<'a> {
    pub uri: &'a str,
    pub events: u64,
    pub inflated_bytes: u64,
}

impl Event for FileDecoded<'_> {
    fn emit(self, c: &Counters) {
        tracing::debug!(source = %self.uri, events = self.events, "File decoded.");
        Counters::add(&c.events_read, self.events);
        Counters::add(&c.pending_inflated, self.inflated_bytes);
    }
}

/// A commit of log files (a backfill's, or one of the service's windows).
#[derive(Debug, Default)]
pub struct Committed {
    pub files: u64,
    pub events: u64,
    pub bytes: u64,
    pub digests_checked: u64,
    pub digests_with_problems: u64,
    pub version: u64,
}

impl Event for Committed {
    fn emit(self, c: &Counters) {
        Counters::add(&c.files, self.files);
        Counters::add(&c.events, self.events);
        Counters::add(&c.bytes, self.bytes);
        Counters::add(&c.digests_checked, self.digests_checked);
        Counters::add(&c.digests_with_problems, self.digests_with_problems);
        let commit = c.commits.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            commit,
            files = self.files,
            events = self.events,
            version = self.version,
            files_total = c.files.load(Ordering::Relaxed),
            events_total = c.events.load(Ordering::Relaxed),
            "Committed."
        );
    }
}

/// A queue message whose body is none of the shapes ingest reads (it is left for the
/// dead-letter queue).
pub struct MessageUnrecognised<'a> {
    pub id: &'a str,
    pub error: &'a str,
}

impl Event for MessageUnrecognised<'_> {
    fn emit(self, c: &Counters) {
        tracing::warn!(
            message_id = %self.id,
            error = %self.error,
            "Message not understood; left for the dead-letter queue."
        );
        Counters::add(&c.messages_unrecognised, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_counts_what_it_logs_and_the_snapshot_serves_it() {
        let c = Counters::default();
        c.emit(FileQuarantined { uri: "s3://b/k.json.gz", error: "gzip data is corrupt" });
        c.emit(Committed {
            files: 3,
            events: 40,
            bytes: 900,
            digests_checked: 1,
            digests_with_problems: 0,
            version: 7,
        });
        c.emit(Committed { files: 1, events: 2, bytes: 10, digests_checked: 0, digests_with_problems: 0, version: 8 });
        let s = c.snapshot();
        assert_eq!((s.files_quarantined, s.commits, s.files, s.events, s.bytes), (1, 2, 4, 42, 910));
        let text = s.prometheus();
        assert!(text.contains("# TYPE trailhouse_events counter\ntrailhouse_events 42\n"), "{text}");
        assert!(text.contains("# TYPE trailhouse_queue_lag_messages gauge\n"), "{text}");
        assert!(!text.contains("pending_inflated"), "internal counters are not exported: {text}");
    }
}
