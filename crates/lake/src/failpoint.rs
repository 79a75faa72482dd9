//! Failpoints: the named moments of the commit protocol where a test makes the process die
//! as `kill -9` would, to prove that a crash exactly there loses and duplicates nothing.
//!
//! A point is [`hit`] each time its step has done something (a window with data files,
//! a commit that happened); it does something only in a build with the `failpoints`
//! feature (the root's dev-dependency turns it on in builds with test targets: `cargo
//! test`, `--all-targets`; `cargo build` and the release binary compile every point to
//! nothing) and only when the process was started with
//! `TRAILHOUSE_TEST_FAILPOINT=<name>` (die on the first pass) or `<name>@<n>` (die on the
//! n-th). It then writes `failpoint <name> hit (pass <n>)` to stderr, so a test knows the
//! process died at that moment and not elsewhere, and aborts: no destructor runs, no buffer
//! is flushed, no message is deleted.
//!
//! The points, in the order a run passes them (what each proves is in docs/reliability.md):
//!
//! | name | where |
//! |---|---|
//! | `ingest.data-written` | the window's data files are written, nothing committed |
//! | `ingest.integrity-recorded` | its digests' `integrity` rows are committed |
//! | `lake.ledger-written` | its ledger file is written, not committed |
//! | `lake.events-committed` | its `cloudtrail` commit is in, the ledger's is not |
//! | `lake.ledger-committed` | the events' and the ledger's commits are in, the rollup's is not |
//! | `lake.rollup-committed` | all three commits are in, nothing told to the caller |
//! | `sqs.before-delete` | a window is done (its data committed, or nothing new in it), its SQS messages not yet deleted |
//! | `compact.optimized` | a table's compaction is committed, its vacuum not run |
//! | `compact.vacuumed` | a table is vacuumed, its checkpoint not written |
//! | `compact.rollup-folded` | the rollup is folded (days merged or rebuilt), not vacuumed |
//! | `detect.alerts-recorded` | a detection run's alerts are written, its watermark not |

/// The variable that arms one point.
pub const VARIABLE: &str = "TRAILHOUSE_TEST_FAILPOINT";

/// Every point, in the order a run passes them.
pub const POINTS: &[&str] = &[
    "ingest.data-written",
    "ingest.integrity-recorded",
    "lake.ledger-written",
    "lake.events-committed",
    "lake.ledger-committed",
    "lake.rollup-committed",
    "sqs.before-delete",
    "compact.optimized",
    "compact.vacuumed",
    "compact.rollup-folded",
    "detect.alerts-recorded",
];

/// Passes the point `name`: dies there if the process was started to (see the module).
#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static PASSES: AtomicU64 = AtomicU64::new(0);
    debug_assert!(POINTS.contains(&name), "failpoint {name} is not listed in POINTS");
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var(VARIABLE).ok().filter(|s| !s.is_empty())?;
        let (point, nth) = match spec.split_once('@') {
            Some((p, n)) => (p.to_string(), n.parse().unwrap_or_else(|_| panic!("{VARIABLE}={spec}: not <name>@<n>"))),
            None => (spec.clone(), 1),
        };
        assert!(POINTS.contains(&point.as_str()), "{VARIABLE}={spec}: no such failpoint (see lake::failpoint::POINTS)");
        Some((point, nth))
    });
    let Some((point, nth)) = armed else { return };
    if point != name {
        return;
    }
    let pass = PASSES.fetch_add(1, Ordering::SeqCst) + 1;
    if pass == *nth {
        // The line and the abort under stderr's lock: no other thread's log line can come
        // after it, so a test finds it last.
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "failpoint {name} hit (pass {pass})");
        std::process::abort();
    }
}

/// Passes the point `name`: nothing, in a build without the `failpoints` feature.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
