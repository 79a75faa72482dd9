//! The ledger (`ingested_files`): one row per source object a run ingested or
//! quarantined, so that a re-run, or another ingester, skips what is already in.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

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
}

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
        Arc::new(StringArray::from_iter_values(
            entries.iter().map(|e| if e.error.is_some() { "quarantined" } else { "ingested" }),
        )),
        Arc::new(StringArray::from_iter(entries.iter().map(|e| e.error.as_deref()))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(run_id, n))),
        Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
    ];
    RecordBatch::try_new(LEDGER_SCHEMA.clone(), columns).expect("ledger columns follow the ledger schema")
}

impl Lake {
    /// Every source object already ingested or quarantined, after repairing a ledger left
    /// behind by a crash between a run's two commits ([`crate::commit`]).
    pub async fn known_sources(&self) -> Result<KnownSources> {
        self.repair_ledger().await?;
        let table = self.table(LEDGER_TABLE).await?;
        let mut known = KnownSources::default();
        for batch in read_table(&table, "SELECT name, size FROM t").await? {
            let names = arrow::compute::cast(batch.column(0), &DataType::Utf8)
                .map_err(|e| LakeError::state(&self.location, format!("ledger column name: {e}")))?;
            let names = names.as_string::<i32>();
            let sizes = batch.column(1).as_any().downcast_ref::<Int64Array>();
            let Some(sizes) = sizes else { continue };
            for i in 0..batch.num_rows() {
                known.insert(names.value(i), sizes.value(i));
            }
        }
        Ok(known)
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
