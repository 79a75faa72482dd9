//! The ledger (`ingested_files`): one row per source object a run ingested or
//! quarantined, so that a re-run, or another ingester, skips what is already in; one per
//! digest file checked; and one per log file each time a digest vouches for it (or not):
//! `status` is then `valid`, `altered`, `missing` or `pending`, `verified_by` the digest
//! and `sha256` the hash the digest lists (on an `ingested` row it is the file's own).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};

use deltalake::DeltaTable;

use crate::snapshot::read_table;
use crate::{LEDGER_TABLE, Lake, LakeError, Result, schema};

/// One row of the ledger: a source object that a run ingested or quarantined.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// Location-independent name (the key from `AWSLogs/` on, or the relative path).
    pub name: String,
    pub uri: String,
    pub size: i64,
    pub etag: Option<String>,
    pub events: i64,
    /// `None` when ingested; the decode error when quarantined.
    pub error: Option<String>,
    /// SHA-256 (hex) of the inflated bytes: the file's own for a log file, the one the
    /// digest lists for an integrity row.
    pub sha256: Option<String>,
    pub kind: EntryKind,
}

/// What a ledger row is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EntryKind {
    /// A log file: `ingested`, or `quarantined` when `error` is set.
    #[default]
    LogFile,
    /// A digest file, checked (its outcome is a row of the `integrity` table).
    Digest,
    /// A log file's integrity as a digest vouches for it.
    Integrity { digest: String, outcome: LogIntegrity },
}

/// A log file against the hash a digest lists for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogIntegrity {
    /// The lake's copy has the listed hash.
    Valid,
    /// It does not (or the file was not gzip): the log was changed after delivery.
    Altered,
    /// Listed, but neither in the lake nor in the bucket: it was deleted.
    Missing,
    /// Listed, not in the lake yet, still in the bucket: checked when it arrives.
    Pending,
}

impl LogIntegrity {
    /// The ledger's `status` for it.
    pub fn name(self) -> &'static str {
        match self {
            LogIntegrity::Valid => "valid",
            LogIntegrity::Altered => "altered",
            LogIntegrity::Missing => "missing",
            LogIntegrity::Pending => "pending",
        }
    }
}

impl LedgerEntry {
    /// The ledger's `status` column.
    pub fn status(&self) -> &'static str {
        match &self.kind {
            EntryKind::LogFile if self.error.is_some() => "quarantined",
            EntryKind::LogFile => "ingested",
            EntryKind::Digest => "digest",
            EntryKind::Integrity { outcome, .. } => outcome.name(),
        }
    }

    /// An integrity row: `name`'s outcome against `digest`, which lists `sha256` for it.
    pub fn integrity(name: &str, digest: &str, sha256: &str, outcome: LogIntegrity) -> LedgerEntry {
        LedgerEntry {
            name: name.to_string(),
            uri: String::new(),
            size: -1,
            etag: None,
            events: 0,
            error: None,
            sha256: Some(sha256.to_string()),
            kind: EntryKind::Integrity { digest: digest.to_string(), outcome },
        }
    }
}

/// The `status` values of rows about an object's own ingestion (what [`KnownSources`]
/// reads): a log file ingested or quarantined, a digest checked.
const SOURCE_STATUSES: &str = "'ingested', 'quarantined', 'digest'";

/// The set of source objects already in the lake, by name and size.
#[derive(Debug, Default)]
pub struct KnownSources {
    set: HashSet<u128>,
}

impl KnownSources {
    fn key(name: &str, size: i64) -> u128 {
        let mut h1 = std::collections::hash_map::DefaultHasher::new();
        let mut h2 = std::collections::hash_map::DefaultHasher::new();
        (0u8, name, size).hash(&mut h1);
        (1u8, name, size).hash(&mut h2);
        (u128::from(h1.finish()) << 64) | u128::from(h2.finish())
    }

    pub fn insert(&mut self, name: &str, size: i64) {
        self.set.insert(Self::key(name, size));
    }

    pub fn contains(&self, name: &str, size: i64) -> bool {
        self.set.contains(&Self::key(name, size))
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

static LEDGER_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("uri", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("etag", DataType::Utf8, true),
        Field::new("events", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("ingested_at", schema::timestamp_type(), false),
        Field::new("sha256", DataType::Utf8, true),
        Field::new("verified_by", DataType::Utf8, true),
        Field::new("verified_at", schema::timestamp_type(), true),
    ]))
});

/// The Arrow schema of the ledger table.
pub fn ledger_schema() -> SchemaRef {
    LEDGER_SCHEMA.clone()
}

/// The ledger rows of one run, as a batch of the ledger's schema.
pub(crate) fn ledger_batch(entries: &[LedgerEntry], run_id: &str) -> RecordBatch {
    let now = chrono::Utc::now().timestamp_micros();
    let n = entries.len();
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(StringArray::from_iter_values(entries.iter().map(|e| e.name.as_str()))),
        Arc::new(StringArray::from_iter_values(entries.iter().map(|e| e.uri.as_str()))),
        Arc::new(Int64Array::from_iter_values(entries.iter().map(|e| e.size))),
        Arc::new(StringArray::from_iter(entries.iter().map(|e| e.etag.as_deref()))),
        Arc::new(Int64Array::from_iter_values(entries.iter().map(|e| e.events))),
        Arc::new(StringArray::from_iter_values(entries.iter().map(LedgerEntry::status))),
        Arc::new(StringArray::from_iter(entries.iter().map(|e| e.error.as_deref()))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run_id, n))),
        Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
        Arc::new(StringArray::from_iter(entries.iter().map(|e| e.sha256.as_deref()))),
        Arc::new(StringArray::from_iter(entries.iter().map(|e| match &e.kind {
            EntryKind::Integrity { digest, .. } => Some(digest.as_str()),
            _ => None,
        }))),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                entries.iter().map(|e| matches!(e.kind, EntryKind::Integrity { .. }).then_some(now)),
            )
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(LEDGER_SCHEMA.clone(), columns).expect("ledger columns follow the ledger schema")
}

impl Lake {
    /// Every source object already ingested or quarantined, after repairing a ledger left
    /// behind by a crash between a run's two commits ([`crate::commit`]).
    pub async fn known_sources(&self) -> Result<KnownSources> {
        self.repair_ledger().await?;
        let (known, outside_layout) = self.read_known_sources().await?;
        if outside_layout && self.upgrade_local_names().await? > 0 {
            return Ok(self.read_known_sources().await?.0);
        }
        Ok(known)
    }

    /// The ledger's source objects, and whether any is named outside CloudTrail's layout
    /// (no `AWSLogs/` in its name).
    async fn read_known_sources(&self) -> Result<(KnownSources, bool)> {
        let table = self.table(LEDGER_TABLE).await?;
        let mut known = KnownSources::default();
        let mut outside_layout = false;
        for batch in
            read_table(&table, &format!("SELECT name, size FROM t WHERE status IN ({SOURCE_STATUSES})")).await?
        {
            let names = arrow::compute::cast(batch.column(0), &DataType::Utf8)
                .map_err(|e| LakeError::state(&self.location, format!("ledger column name: {e}")))?;
            let names = names.as_string::<i32>();
            let sizes = batch.column(1).as_any().downcast_ref::<Int64Array>();
            let Some(sizes) = sizes else { continue };
            for i in 0..batch.num_rows() {
                let name = names.value(i);
                outside_layout |= !name.contains(LAYOUT_ROOT);
                known.insert(name, sizes.value(i));
            }
        }
        Ok((known, outside_layout))
    }

    /// Renames ledger rows that older builds named by a local file's path under the folder
    /// given (`CloudTrail/us-east-1/...` when the folder was `.../AWSLogs/o-x/111122223333`)
    /// to the name from `AWSLogs/` on, which its path holds: the name the same file gets
    /// read from the bucket, the copy's root or any folder of it. Returns the rows renamed.
    async fn upgrade_local_names(&self) -> Result<u64> {
        let predicate = format!("strpos(name, '{LAYOUT_ROOT}') = 0 AND strpos(uri, '{LAYOUT_ROOT}') > 0");
        let count = |table: DeltaTable| {
            let sql = format!("SELECT count(*) FROM t WHERE {predicate}");
            async move {
                let batches = read_table(&table, &sql).await?;
                Ok::<u64, LakeError>(
                    batches
                        .first()
                        .and_then(|b| b.column(0).as_any().downcast_ref::<Int64Array>().map(|a| a.value(0)))
                        .unwrap_or(0) as u64,
                )
            }
        };
        if count(self.table(LEDGER_TABLE).await?).await? == 0 {
            return Ok(0);
        }
        let table = self.table(LEDGER_TABLE).await?;
        let renamed = table
            .update()
            .with_predicate(predicate.as_str())
            .with_update("name", format!("substr(uri, strpos(uri, '{LAYOUT_ROOT}'))").as_str())
            .with_writer_properties(self.options.writer_properties())
            .await;
        match renamed {
            Ok((_, metrics)) => {
                tracing::info!(rows = metrics.num_updated_rows, "Ledger names upgraded to the key from AWSLogs/ on.");
                Ok(metrics.num_updated_rows as u64)
            }
            // Another ingester upgrading at the same moment wins the commit: fine if it left
            // nothing to rename.
            Err(e) if count(self.table(LEDGER_TABLE).await?).await? == 0 => {
                tracing::debug!(error = %e, "Another process upgraded the ledger's names.");
                Ok(1)
            }
            Err(e) => Err(LakeError::delta(&self.location)(e)),
        }
    }
}

/// Where CloudTrail's key layout starts; a source object's ledger name is its key from here.
const LAYOUT_ROOT: &str = "AWSLogs/";

/// A log file a digest listed that the lake does not have yet: still to arrive
/// (`pending`), or declared `missing` and still awaited (a file that lands late with the
/// listed hash turns `valid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLog {
    pub name: String,
    /// The hash the digest lists.
    pub sha256: String,
    pub digest: String,
    /// Where the digest says it is (`s3://bucket/key`).
    pub location: String,
    /// When a digest first listed it without the lake having it (microseconds).
    pub since: i64,
    /// Already recorded `missing`.
    pub missing: bool,
}

impl Lake {
    /// The SHA-256 the ledger holds for each of `names` that was ingested or quarantined
    /// (`None` for a file ingested before hashes were kept, or not inflatable). Looks at
    /// rows written since `since` (microseconds; prunes by file statistics) first, then, for
    /// names not found there, at the whole ledger.
    pub async fn ledger_hashes(
        &self,
        names: &HashSet<String>,
        since: Option<i64>,
    ) -> Result<std::collections::HashMap<String, Option<String>>> {
        self.hashes(names, since, true).await
    }

    /// [`Lake::ledger_hashes`] among the rows written since `since` (microseconds) only.
    pub async fn ledger_hashes_written_since(
        &self,
        names: &HashSet<String>,
        since: i64,
    ) -> Result<std::collections::HashMap<String, Option<String>>> {
        self.hashes(names, Some(since), false).await
    }

    async fn hashes(
        &self,
        names: &HashSet<String>,
        since: Option<i64>,
        then_all: bool,
    ) -> Result<std::collections::HashMap<String, Option<String>>> {
        let mut found = std::collections::HashMap::new();
        if names.is_empty() {
            return Ok(found);
        }
        let table = self.table(LEDGER_TABLE).await?;
        let base = "SELECT name, sha256 FROM t WHERE status IN ('ingested', 'quarantined')";
        let mut passes = vec![];
        if let Some(t) = since {
            passes.push(format!("{base} AND ingested_at >= TIMESTAMP '{}'", crate::time::format_canonical(t)));
        }
        if then_all || since.is_none() {
            passes.push(base.to_string());
        }
        for sql in passes {
            for batch in read_table(&table, &sql).await? {
                let cast = |i: usize| arrow::compute::cast(batch.column(i), &DataType::Utf8);
                let (n, h) = (cast(0), cast(1));
                let (Ok(n), Ok(h)) = (n, h) else { continue };
                let (n, h) = (n.as_string::<i32>(), h.as_string::<i32>());
                for i in 0..batch.num_rows() {
                    if names.contains(n.value(i)) {
                        found.insert(n.value(i).to_string(), h.is_valid(i).then(|| h.value(i).to_string()));
                    }
                }
            }
            if found.len() == names.len() {
                break;
            }
        }
        Ok(found)
    }

    /// Log files digests listed that the lake does not have: `pending` or `missing`, with no
    /// later `valid` or `altered` row for the same name.
    pub async fn pending_logs(&self) -> Result<Vec<PendingLog>> {
        let table = self.table(LEDGER_TABLE).await?;
        let sql = "SELECT name, first_value(sha256 ORDER BY verified_at), first_value(verified_by ORDER BY verified_at), \
                          first_value(uri ORDER BY verified_at), \
                          CAST(min(verified_at) AS BIGINT), max(CASE WHEN status = 'missing' THEN 1 ELSE 0 END) \
                   FROM t WHERE status IN ('pending', 'missing') AND name NOT IN \
                   (SELECT name FROM t WHERE status IN ('valid', 'altered')) GROUP BY name ORDER BY name";
        let mut out = vec![];
        for batch in read_table(&table, sql).await? {
            let cols: Vec<_> =
                (0..4).filter_map(|i| arrow::compute::cast(batch.column(i), &DataType::Utf8).ok()).collect();
            let (Some(since), Some(missing)) = (
                arrow::compute::cast(batch.column(4), &DataType::Int64).ok(),
                arrow::compute::cast(batch.column(5), &DataType::Int64).ok(),
            ) else {
                continue;
            };
            if cols.len() < 4 {
                continue;
            }
            let (n, h, d) = (cols[0].as_string::<i32>(), cols[1].as_string::<i32>(), cols[2].as_string::<i32>());
            let u = cols[3].as_string::<i32>();
            let (since, missing) = (since.as_primitive::<Int64Type>(), missing.as_primitive::<Int64Type>());
            for i in 0..batch.num_rows() {
                out.push(PendingLog {
                    name: n.value(i).to_string(),
                    sha256: h.value(i).to_string(),
                    digest: d.value(i).to_string(),
                    location: u.value(i).to_string(),
                    since: if since.is_valid(i) { since.value(i) } else { 0 },
                    missing: missing.value(i) > 0,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sources_match_name_and_size() {
        let mut k = KnownSources::default();
        k.insert("AWSLogs/a.json.gz", 10);
        assert!(k.contains("AWSLogs/a.json.gz", 10));
        assert!(!k.contains("AWSLogs/a.json.gz", 11));
        assert!(!k.contains("AWSLogs/b.json.gz", 10));
    }
}
