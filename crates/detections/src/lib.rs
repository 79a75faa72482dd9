//! detections: SQL detections as code over the trailhouse lake.
//!
//! - [`rule`]: one TOML file per rule: metadata for the responder, the SQL over `events`
//!   (and `history` for baselines), dedup key and window, an optional threshold, and
//!   embedded test events.
//! - [`coverage`]: the pack against the MITRE ATT&CK for IaaS tactics (a Markdown matrix).
//! - [`pack`]: the built-in pack (`crates/detections/packs/trailhouse/`) or a folder of rules.
//! - [`lint`]: the event sources and names rules compare with, against AWS's API models.
//! - [`testing`]: rule tests through the real decode -> Arrow -> DataFusion path.
//! - [`baseline`]: what the stateful rules have seen, kept in the lake's `baselines` table
//!   and brought up to date from each run's new rows.
//! - [`engine`]: one rule over registered `events`/`history` into deduplicated alerts.
//! - [`run`]: a run over the lake: incremental by Delta version (the watermark lives in
//!   the lake's `detection_runs` table), alerts appended to the lake's `alerts` table.
//! - [`incident`]: a run's alerts about one identity within a window, grouped into scored
//!   incidents (the lake's `incidents` table) and the attack-sequence alert.
//! - [`exception`]: scoped, owned, expiring reasons not to deliver an alert (the lake's
//!   `exceptions` table); a suppressed alert is recorded and counted, never delivered.
//! - [`ocsf`]: alerts and incidents as OCSF Detection Findings (class 2004).
//! - [`alert`]: alerts and their forms (a table, a line, Arrow for the `alerts` table).
//! - [`sink`]: where alerts go (terminal, JSONL file, Slack-compatible webhook) and
//!   [`sink::Sinks::deliver_then_record`], the order that makes delivery at least once.
//! - [`triage`]: what analysts decided about each alert, kept in the lake.
//! - [`tuning`]: rule settings from the settings file (off, severity, accounts, dedup
//!   window, shadow mode) without editing rules.
//!
//! It reads the lake through `lake` and plans SQL with `query`; the
//! only part of `ingest` it uses is the decoder (without the ingest pipeline or
//! the AWS SDK), so a rule's test events take the same path as real logs.

pub mod alert;
pub mod baseline;
mod columns;
pub mod coverage;
pub mod engine;
mod error;
pub mod exception;
pub mod incident;
pub mod lint;
pub mod ocsf;
pub mod pack;
pub mod rule;
pub mod run;
pub mod sigma;
pub mod sink;
pub mod testing;
pub mod triage;
pub mod tuning;

pub use error::{DetectError, Result};
