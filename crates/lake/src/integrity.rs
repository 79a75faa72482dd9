//! The `integrity` table: one row per CloudTrail digest file checked while ingesting
//! (continuous log file integrity validation): its signature, its place in its chain and
//! what it says of the log files it lists. What each log file came to is in the ledger
//! ([`crate::ledger::LogIntegrity`]).

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};

use crate::snapshot::read_table;
use crate::{Lake, Result, schema};

/// One row per digest checked.
pub const INTEGRITY_TABLE: &str = "integrity";

/// One digest as checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestCheck {
    /// Its key from `AWSLogs/` on.
    pub digest: String,
    pub account: String,
    pub region: String,
    /// Microseconds; `None` when the digest could not be read.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// A `_backfill` digest (late files; a chain of its own).
    pub backfill: bool,
    /// `valid`, `invalid_signature`, `unknown_key`, `signature_not_hex`, `unsigned` (no
    /// signature where it is stored), `moved` (it names another location) or `unreadable`.
    pub status: String,
    /// `linked` (to the digest before it, as the lake has it), `first` (the first the lake
    /// has of its chain), `restarted` (no previous digest although the lake has an earlier
    /// one: logging or validation was stopped), `broken` (the link does not carry the
    /// previous digest's hash or signature), `previous_missing` (it links to a digest the
    /// lake never saw, after earlier ones), or `none` (unreadable).
    pub chain: String,
    pub previous_digest: Option<String>,
    /// Whole hours between the previous digest of the chain the lake has and this one.
    pub gap_hours: i64,
    pub logs_listed: i64,
    pub logs_valid: i64,
    pub logs_altered: i64,
    pub logs_missing: i64,
    pub logs_pending: i64,
    /// SHA-256 of the inflated digest and its signature (hex): what the next digest links.
    pub hash: Option<String>,
    pub signature: Option<String>,
    /// Why a digest is not valid, in words.
    pub message: Option<String>,
}

impl DigestCheck {
    /// True when something is wrong: a signature that fails (or cannot be checked for want
    /// of its key), a moved or unreadable digest, a broken or restarted chain, a missing
    /// previous digest, a gap of hours, a log file altered or missing. A digest of a local
    /// copy without its signature (`unsigned`) is not, by itself, a problem.
    pub fn has_problem(&self) -> bool {
        !matches!(self.status.as_str(), "valid" | "unsigned")
            || !matches!(self.chain.as_str(), "linked" | "first")
            || self.gap_hours > 0
            || self.logs_altered + self.logs_missing > 0
    }
}

static INTEGRITY_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let count = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("digest", false),
        text("account", false),
        text("region", false),
        Field::new("digest_start_time", schema::timestamp_type(), true),
        Field::new("digest_end_time", schema::timestamp_type(), true),
        Field::new("backfill", DataType::Boolean, false),
        text("status", false),
        text("chain", false),
        text("previous_digest", true),
        count("gap_hours"),
        count("logs_listed"),
        count("logs_valid"),
        count("logs_altered"),
        count("logs_missing"),
        count("logs_pending"),
        text("hash", true),
        text("signature", true),
        text("message", true),
        Field::new("checked_at", schema::timestamp_type(), false),
        text("run_id", false),
    ]))
});

/// The Arrow schema of the `integrity` table.
pub fn integrity_schema() -> SchemaRef {
    INTEGRITY_SCHEMA.clone()
}

/// Rows of the `integrity` table.
pub fn integrity_batch(rows: &[DigestCheck], run_id: &str) -> RecordBatch {
    let now = crate::time::now_micros();
    let text =
        |f: &dyn Fn(&DigestCheck) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(rows.iter().map(f))) };
    let opt =
        |f: &dyn Fn(&DigestCheck) -> Option<&str>| -> ArrayRef { Arc::new(StringArray::from_iter(rows.iter().map(f))) };
    let count =
        |f: &dyn Fn(&DigestCheck) -> i64| -> ArrayRef { Arc::new(Int64Array::from_iter_values(rows.iter().map(f))) };
    let time = |f: &dyn Fn(&DigestCheck) -> Option<i64>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter(rows.iter().map(f)).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| &r.digest),
        text(&|r| &r.account),
        text(&|r| &r.region),
        time(&|r| r.start),
        time(&|r| r.end),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.backfill)))),
        text(&|r| &r.status),
        text(&|r| &r.chain),
        opt(&|r| r.previous_digest.as_deref()),
        count(&|r| r.gap_hours),
        count(&|r| r.logs_listed),
        count(&|r| r.logs_valid),
        count(&|r| r.logs_altered),
        count(&|r| r.logs_missing),
        count(&|r| r.logs_pending),
        opt(&|r| r.hash.as_deref()),
        opt(&|r| r.signature.as_deref()),
        opt(&|r| r.message.as_deref()),
        time(&|_| Some(now)),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run_id, rows.len()))),
    ];
    RecordBatch::try_new(INTEGRITY_SCHEMA.clone(), columns).expect("integrity columns follow the integrity schema")
}

/// A digest the lake has checked before: what a later digest links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDigest {
    pub digest: String,
    pub account: String,
    pub region: String,
    pub end: Option<i64>,
    pub backfill: bool,
    pub hash: Option<String>,
    pub signature: Option<String>,
}

impl Lake {
    /// Appends checked digests to the `integrity` table (created on first use).
    pub async fn record_digests(&self, rows: &[DigestCheck], run_id: &str) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.append(INTEGRITY_TABLE, vec![integrity_batch(rows, run_id)]).await?;
        Ok(())
    }

    /// The digests the lake has checked for these chains (account, region), ending at or
    /// after `since` (microseconds), oldest first.
    pub async fn known_digests(&self, chains: &[(String, String)], since: i64) -> Result<Vec<KnownDigest>> {
        let Some(table) = self.try_table(INTEGRITY_TABLE).await? else { return Ok(vec![]) };
        if chains.is_empty() {
            return Ok(vec![]);
        }
        let quote = |s: &str| s.replace('\'', "''");
        let wanted: Vec<String> =
            chains.iter().map(|(a, r)| format!("(account = '{}' AND region = '{}')", quote(a), quote(r))).collect();
        let sql = format!(
            "SELECT digest, account, region, digest_end_time, backfill, hash, signature FROM t \
             WHERE ({}) AND digest_end_time >= TIMESTAMP '{}' ORDER BY digest_end_time, checked_at",
            wanted.join(" OR "),
            crate::time::format_canonical(since)
        );
        let mut out = vec![];
        for batch in read_table(&table, &sql).await? {
            let text = |i: usize| arrow::compute::cast(batch.column(i), &DataType::Utf8).ok();
            let (Some(d), Some(a), Some(r), Some(h), Some(s)) = (text(0), text(1), text(2), text(5), text(6)) else {
                continue;
            };
            let (d, a, r, h, s) = (
                d.as_string::<i32>(),
                a.as_string::<i32>(),
                r.as_string::<i32>(),
                h.as_string::<i32>(),
                s.as_string::<i32>(),
            );
            let end = arrow::compute::cast(batch.column(3), &schema::timestamp_type()).ok();
            let end = end.as_ref().map(|e| e.as_primitive::<TimestampMicrosecondType>().clone());
            let backfill = batch.column(4).as_boolean_opt().cloned();
            for i in 0..batch.num_rows() {
                let opt = |c: &arrow::array::StringArray| c.is_valid(i).then(|| c.value(i).to_string());
                out.push(KnownDigest {
                    digest: d.value(i).to_string(),
                    account: a.value(i).to_string(),
                    region: r.value(i).to_string(),
                    end: end.as_ref().and_then(|e| e.is_valid(i).then(|| e.value(i))),
                    backfill: backfill.as_ref().is_some_and(|b| b.value(i)),
                    hash: opt(h),
                    signature: opt(s),
                });
            }
        }
        Ok(out)
    }
}
