//! The lake: a folder (local or `s3://bucket/prefix`) holding Delta tables.
//!
//! - `cloudtrail/`: the events, zstd Parquet partitioned by `eventdate`.
//! - `ingested_files/`: the ledger, one row per source object ingested or quarantined,
//!   so that a re-run skips what is already in.
//! - `quarantine/`: files that could not be decoded, each beside a `.error.json`.
//!
//! # How a run commits
//! Data files are streamed to the table folder (invisible until committed). The run's
//! ledger rows are written as one Parquet file of the ledger table, not yet committed.
//! Then a single `cloudtrail` commit adds every data file and carries the ledger file's
//! `add` action in its commit info; finally the ledger table commits that file. A crash
//! before the `cloudtrail` commit leaves nothing visible; a crash between the two commits
//! is repaired by [`Lake::known_sources`], which re-commits ledger files named by recent
//! `cloudtrail` commits and missing from the ledger.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore, Path};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde_json::Value;
use url::Url;

use crate::schema;
use crate::{IngestError, Result};

pub const CLOUDTRAIL_TABLE: &str = "cloudtrail";
pub const LEDGER_TABLE: &str = "ingested_files";
pub const QUARANTINE_DIR: &str = "quarantine";
/// Alerts raised by detection runs (written by the detections crate).
pub const ALERTS_TABLE: &str = "alerts";
/// One row per detection run; its `to_version` is the incremental watermark.
pub const RUNS_TABLE: &str = "detection_runs";

const META_RUN_ID: &str = "trailhouse.runId";
const META_LEDGER_ADD: &str = "trailhouse.ledgerAdd";
/// How many recent `cloudtrail` commits are checked for a ledger file left uncommitted.
const LEDGER_REPAIR_DEPTH: usize = 200;

/// How the lake writes.
#[derive(Debug, Clone)]
pub struct LakeOptions {
    /// Object store options for an `s3://` lake (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...);
    /// the environment is read too.
    pub storage_options: HashMap<String, String>,
    /// Target size of one Parquet file, in bytes.
    pub target_file_bytes: u64,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Most rows per Parquet data page. Every open file holds one page being filled per
    /// column, and a lane keeps a file open per event date it has seen: with Parquet's
    /// default (20,000) a 7-day backfill peaked at 628 MB on 2 lanes, with 4,096 at 483 MB,
    /// at the same speed and 2% more lake bytes (finer page indexes, too).
    pub page_rows: usize,
    /// zstd level of the Parquet pages.
    pub zstd_level: i32,
}

impl Default for LakeOptions {
    fn default() -> Self {
        LakeOptions {
            storage_options: HashMap::new(),
            target_file_bytes: 128 << 20,
            row_group_rows: 128 * 1024,
            page_rows: 4096,
            zstd_level: 1,
        }
    }
}

/// One row of the ledger: a source object that a run ingested or quarantined.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// Location-independent name ([`crate::layout::canonical_name`]).
    pub name: String,
    pub uri: String,
    pub size: i64,
    pub etag: Option<String>,
    pub events: i64,
    /// `None` when ingested; the decode error when quarantined.
    pub error: Option<String>,
}

/// What a compaction did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CompactSummary {
    /// Small files replaced by the compaction.
    pub files_removed: u64,
    /// Compacted files written.
    pub files_added: u64,
    /// Unreferenced files deleted by VACUUM.
    pub files_vacuumed: u64,
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

/// An opened lake.
#[derive(Debug, Clone)]
pub struct Lake {
    location: String,
    root: Url,
    options: LakeOptions,
}

fn lake_err(location: &str) -> impl Fn(DeltaTableError) -> IngestError + '_ {
    move |e| IngestError::Lake { location: location.to_string(), source: Box::new(e) }
}

/// Turns `./lake`, `/abs/lake` or `s3://bucket/prefix` into a folder URL (ending in `/`).
pub fn location_url(location: &str) -> Result<Url> {
    let mut url = if location.contains("://") {
        Url::parse(location).map_err(|_| IngestError::Location(location.to_string()))?
    } else {
        let path = std::path::Path::new(location);
        std::fs::create_dir_all(path)
            .map_err(|source| IngestError::Io { path: location.to_string(), source })?;
        let abs = path
            .canonicalize()
            .map_err(|source| IngestError::Io { path: location.to_string(), source })?;
        Url::from_directory_path(&abs).map_err(|_| IngestError::Location(location.to_string()))?
    };
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// Creates the folder of a `file://` table URL (object stores need no folders).
fn create_local_dir(url: &Url) -> Result<()> {
    if url.scheme() == "file" {
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path).map_err(|source| IngestError::Io { path: path.display().to_string(), source })?;
        }
    }
    Ok(())
}

fn register_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

impl Lake {
    /// Opens the lake at `location`, creating its tables when missing.
    pub async fn open_or_create(location: &str, options: &LakeOptions) -> Result<Lake> {
        register_handlers();
        let lake = Lake {
            location: location.to_string(),
            root: location_url(location)?,
            options: options.clone(),
        };
        lake.ensure_table(CLOUDTRAIL_TABLE, &schema::cloudtrail_schema(), schema::PARTITION_COLUMNS)
            .await?;
        lake.ensure_table(LEDGER_TABLE, &LEDGER_SCHEMA, &[]).await?;
        Ok(lake)
    }

    /// Opens an existing lake without creating anything.
    pub async fn open_existing(location: &str, options: &LakeOptions) -> Result<Lake> {
        register_handlers();
        let root = if location.contains("://") {
            location_url(location)?
        } else {
            let path = std::path::Path::new(location);
            if !path.join(CLOUDTRAIL_TABLE).join("_delta_log").is_dir() {
                return Err(IngestError::LakeState {
                    location: location.to_string(),
                    message: "no lake here; fill one with `trailhouse ingest --source DIR` or `trailhouse demo`".into(),
                });
            }
            location_url(location)?
        };
        Ok(Lake { location: location.to_string(), root, options: options.clone() })
    }

    /// The location as the user gave it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The URL of a table (or folder) inside the lake.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        self.root
            .join(&format!("{name}/"))
            .map_err(|_| IngestError::Location(format!("{}{name}", self.root)))
    }

    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.options.storage_options
    }

    fn builder(&self, name: &str) -> Result<DeltaTableBuilder> {
        DeltaTableBuilder::from_url(self.table_url(name)?)
            .map(|b| b.with_storage_options(self.options.storage_options.clone()))
            .map_err(lake_err(&self.location))
    }

    /// Loads a table of the lake at its latest version.
    pub async fn table(&self, name: &str) -> Result<DeltaTable> {
        self.builder(name)?.load().await.map_err(lake_err(&self.location))
    }

    /// Loads a table of the lake, or `None` if it was never written.
    pub async fn try_table(&self, name: &str) -> Result<Option<DeltaTable>> {
        // A local table folder that does not exist is a kernel error, not NotATable.
        let url = self.table_url(name)?;
        if url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.join("_delta_log").is_dir()) {
            return Ok(None);
        }
        match self.builder(name)?.load().await {
            Ok(t) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(lake_err(&self.location)(e)),
        }
    }

    /// Appends `batches` to a small table of the lake (alerts, detection runs), creating
    /// it with their schema on first use. One atomic commit; returns its version.
    pub async fn append(&self, name: &str, batches: Vec<RecordBatch>) -> Result<u64> {
        let err = lake_err(&self.location);
        let url = self.table_url(name)?;
        create_local_dir(&url)?;
        let table = match self.try_table(name).await? {
            Some(t) => t,
            None => self.builder(name)?.build().map_err(&err)?,
        };
        let table = table
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_table_name(name)
            .await
            .map_err(&err)?;
        Ok(table.version().unwrap_or_default())
    }

    async fn ensure_table(&self, name: &str, arrow_schema: &SchemaRef, partitions: &[&str]) -> Result<()> {
        let err = lake_err(&self.location);
        let url = self.table_url(name)?;
        create_local_dir(&url)?;
        let mut table = self.builder(name)?.build().map_err(&err)?;
        match table.load().await {
            Ok(()) => return Ok(()),
            Err(DeltaTableError::NotATable(_)) => {}
            Err(e) => return Err(err(e)),
        }
        let kernel: StructType = arrow_schema.as_ref().try_into_kernel().map_err(|e| err(e.into()))?;
        let mut config: Vec<(String, Option<String>)> = vec![];
        if name == CLOUDTRAIL_TABLE {
            config.push(("delta.dataSkippingStatsColumns".into(), Some(schema::STATS_COLUMNS.join(","))));
        }
        let created = table
            .create()
            .with_table_name(name)
            .with_columns(kernel.fields().cloned())
            .with_partition_columns(partitions.iter().map(|s| s.to_string()))
            .with_configuration(config)
            .with_save_mode(SaveMode::Ignore)
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another process created it first.
            Err(DeltaTableError::VersionAlreadyExists(_)) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Parquet writer settings for the lake's data files.
    pub fn writer_properties(&self) -> WriterProperties {
        Self::writer_properties_for(&self.options)
    }

    /// The Parquet writer settings a lake with `options` uses (also for benchmarks).
    pub fn writer_properties_for(options: &LakeOptions) -> WriterProperties {
        let level = ZstdLevel::try_new(options.zstd_level).unwrap_or_default();
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(options.row_group_rows))
            .set_data_page_row_count_limit(options.page_rows)
            // Min/max statistics cost two comparisons per string value (a tenth of the
            // ingest's CPU when every column had them); only the columns whose statistics
            // the Delta log keeps for file skipping get them, with page indexes.
            .set_statistics_enabled(EnabledStatistics::None);
        for c in schema::STATS_COLUMNS {
            props = props.set_column_statistics_enabled(ColumnPath::from(*c), EnabledStatistics::Page);
        }
        let json = schema::json_column_paths();
        for c in schema::HIGH_CARDINALITY_COLUMNS.iter().copied().chain(json.iter().map(String::as_str)) {
            let path = c.split('.').map(str::to_string).collect();
            props = props.set_column_dictionary_enabled(ColumnPath::new(path), false);
        }
        props.build()
    }

    /// A writer streaming Parquet files into `table` (uncommitted until [`Lake::commit_run`]).
    pub fn writer(&self, table: &DeltaTable) -> Result<RecordBatchWriter> {
        Ok(RecordBatchWriter::for_table(table)
            .map_err(lake_err(&self.location))?
            .with_writer_properties(self.writer_properties())
            .with_target_file_size(self.options.target_file_bytes))
    }

    /// Commits one run: the data files, then the ledger entries. Returns the `cloudtrail`
    /// version that holds the run (or the current one when it added no data).
    pub async fn commit_run(
        &self,
        cloudtrail: &mut DeltaTable,
        adds: Vec<Add>,
        ledger: &[LedgerEntry],
        run_id: &str,
    ) -> Result<u64> {
        let err = lake_err(&self.location);
        let mut ledger_table = self.table(LEDGER_TABLE).await?;
        let ledger_adds = if ledger.is_empty() {
            vec![]
        } else {
            let mut w = self.writer(&ledger_table)?;
            w.write(ledger_batch(ledger, run_id)).await.map_err(&err)?;
            w.flush().await.map_err(&err)?
        };
        let mut version = cloudtrail.version().unwrap_or(0);
        if !adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            let ledger_json = serde_json::to_value(&ledger_adds).map_err(|e| IngestError::LakeState {
                location: self.location.clone(),
                message: format!("cannot serialise the ledger add: {e}"),
            })?;
            meta.insert(META_LEDGER_ADD.to_string(), ledger_json);
            version = commit_adds(cloudtrail, adds, meta).await.map_err(&err)?;
        }
        if !ledger_adds.is_empty() {
            let mut meta = HashMap::new();
            meta.insert(META_RUN_ID.to_string(), Value::String(run_id.to_string()));
            commit_adds(&mut ledger_table, ledger_adds, meta).await.map_err(&err)?;
        }
        Ok(version)
    }

    /// Every source object already ingested or quarantined, after repairing a ledger left
    /// behind by a crash between a run's two commits.
    pub async fn known_sources(&self) -> Result<KnownSources> {
        self.repair_ledger().await?;
        let table = self.table(LEDGER_TABLE).await?;
        let mut known = KnownSources::default();
        for batch in read_table(&table, "SELECT name, size FROM t").await? {
            let names = arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(|e| IngestError::LakeState {
                location: self.location.clone(),
                message: format!("ledger column name: {e}"),
            })?;
            let names = names.as_string::<i32>();
            let sizes = batch.column(1).as_any().downcast_ref::<Int64Array>();
            let Some(sizes) = sizes else { continue };
            for i in 0..batch.num_rows() {
                known.insert(names.value(i), sizes.value(i));
            }
        }
        Ok(known)
    }

    async fn repair_ledger(&self) -> Result<()> {
        let err = lake_err(&self.location);
        let cloudtrail = self.table(CLOUDTRAIL_TABLE).await?;
        let mut wanted: Vec<Add> = vec![];
        let mut history = cloudtrail.history(Some(LEDGER_REPAIR_DEPTH));
        while let Some(info) = history.next().await {
            let info = info.map_err(&err)?;
            if let Some(v) = info.info.get(META_LEDGER_ADD) {
                if let Ok(adds) = serde_json::from_value::<Vec<Add>>(v.clone()) {
                    wanted.extend(adds);
                }
            }
        }
        drop(history);
        if wanted.is_empty() {
            return Ok(());
        }
        let mut ledger = self.table(LEDGER_TABLE).await?;
        let present: HashSet<String> = ledger
            .snapshot()
            .map_err(&err)?
            .log_data()
            .into_iter()
            .map(|a| a.path().to_string())
            .collect();
        let missing: Vec<Add> = wanted.into_iter().filter(|a| !present.contains(&a.path)).collect();
        if !missing.is_empty() {
            tracing::warn!(files = missing.len(), "Repairing the ledger after an interrupted run.");
            commit_adds(&mut ledger, missing, HashMap::new()).await.map_err(&err)?;
        }
        Ok(())
    }

    /// Copies an undecodable file to the quarantine folder with its error beside it;
    /// returns where it went. The path keeps only safe characters of the source name, so
    /// no key can escape the quarantine folder.
    pub async fn quarantine(&self, name: &str, uri: &str, data: bytes::Bytes, error: &str) -> Result<String> {
        let store = self.folder_store(QUARANTINE_DIR)?;
        let rel = safe_relative_path(name);
        let path = Path::parse(&rel).map_err(|e| IngestError::LakeState {
            location: self.location.clone(),
            message: format!("bad quarantine path {rel}: {e}"),
        })?;
        let meta_path = Path::parse(format!("{rel}.error.json")).map_err(|e| IngestError::LakeState {
            location: self.location.clone(),
            message: format!("bad quarantine path {rel}: {e}"),
        })?;
        let meta = serde_json::json!({
            "source": uri,
            "error": error,
            "quarantined_at": chrono::Utc::now().to_rfc3339(),
        });
        let put_err = |e: object_store::Error| IngestError::LakeState {
            location: self.location.clone(),
            message: format!("cannot write quarantine/{rel}: {e}"),
        };
        store.put(&path, data.into()).await.map_err(put_err)?;
        store
            .put(&meta_path, bytes::Bytes::from(meta.to_string()).into())
            .await
            .map_err(put_err)?;
        Ok(format!("{}{rel}", self.table_url(QUARANTINE_DIR)?))
    }

    /// Delta OPTIMIZE (small files into ~`target_bytes` ones) then VACUUM of files
    /// unreferenced for longer than `retention_hours`, on both tables. Safe while ingesters
    /// run: their commits are appends, which do not conflict with a compaction, and files
    /// they are still writing are younger than any sane retention.
    pub async fn compact(&self, target_bytes: u64, retention_hours: i64) -> Result<CompactSummary> {
        let err = lake_err(&self.location);
        let mut summary = CompactSummary::default();
        for name in [CLOUDTRAIL_TABLE, LEDGER_TABLE] {
            let table = self.table(name).await?;
            let target = std::num::NonZeroU64::new(target_bytes.max(1 << 20)).unwrap_or(std::num::NonZeroU64::MIN);
            let (table, m) = table.optimize().with_target_size(target).await.map_err(&err)?;
            summary.files_removed += m.num_files_removed;
            summary.files_added += m.num_files_added;
            let (_, v) = table
                .vacuum()
                .with_retention_period(chrono::Duration::hours(retention_hours))
                .with_enforce_retention_duration(false)
                .await
                .map_err(&err)?;
            summary.files_vacuumed += v.files_deleted.len() as u64;
        }
        Ok(summary)
    }

    /// An object store rooted at a folder of the lake.
    fn folder_store(&self, folder: &str) -> Result<Arc<dyn ObjectStore>> {
        let table = self.builder(folder)?.build().map_err(lake_err(&self.location))?;
        Ok(table.object_store())
    }
}

/// Keeps `[A-Za-z0-9._=-]` of each path segment (others become `_`), drops empty, `.`
/// and `..` segments.
pub fn safe_relative_path(name: &str) -> String {
    let segs: Vec<String> = name
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(|s| {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() || "._=-".contains(c) { c } else { '_' })
                .collect::<String>()
        })
        .map(|s| if s.chars().all(|c| c == '.') { "_".to_string() } else { s })
        .collect();
    if segs.is_empty() { "unnamed".to_string() } else { segs.join("/") }
}

async fn commit_adds(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    app_metadata: HashMap<String, Value>,
) -> Result<u64, DeltaTableError> {
    let snapshot = table.snapshot()?.clone();
    let partition_cols: Vec<String> = snapshot.metadata().partition_columns().to_vec();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: (!partition_cols.is_empty()).then_some(partition_cols),
        predicate: None,
    };
    let finalized = CommitBuilder::from(CommitProperties::default().with_max_retries(50))
        .with_actions(adds.into_iter().map(Action::Add).collect())
        .with_app_metadata(app_metadata)
        .build(Some(&snapshot), table.log_store(), operation)
        .await?;
    let version = finalized.version();
    table.update_state().await?;
    Ok(version)
}

fn ledger_batch(entries: &[LedgerEntry], run_id: &str) -> RecordBatch {
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

/// Runs `sql` (with the table registered as `t`) and collects the result.
pub async fn read_table(table: &DeltaTable, sql: &str) -> Result<Vec<RecordBatch>> {
    let location = table.table_url().to_string();
    let df_err = |e: deltalake::datafusion::error::DataFusionError| IngestError::LakeState {
        location: location.clone(),
        message: e.to_string(),
    };
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| IngestError::Lake { location: location.clone(), source: Box::new(e) })?;
    let provider = table.table_provider().await.map_err(df_err)?;
    ctx.register_table("t", provider).map_err(df_err)?;
    ctx.sql(sql).await.map_err(df_err)?.collect().await.map_err(df_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_tuned_by_path_is_a_parquet_leaf_of_the_schema() {
        let parquet = parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema::cloudtrail_schema())
            .expect("the schema converts to Parquet");
        let leaves: HashSet<String> = parquet.columns().iter().map(|c| c.path().string()).collect();
        for c in schema::HIGH_CARDINALITY_COLUMNS.iter().chain(schema::STATS_COLUMNS) {
            assert!(leaves.contains(*c), "{c} is not a Parquet leaf; leaves: {leaves:?}");
        }
        for c in schema::json_column_paths() {
            assert!(leaves.contains(&c), "{c} is not a Parquet leaf; leaves: {leaves:?}");
        }
        // The properties built from those paths switch the dictionary off exactly there.
        let props = Lake::writer_properties_for(&LakeOptions::default());
        assert!(!props.dictionary_enabled(&ColumnPath::from(vec!["useridentity".into(), "arn".into()])));
        assert!(props.dictionary_enabled(&ColumnPath::from(vec!["useridentity".into(), "type".into()])));
        assert!(props.dictionary_enabled(&ColumnPath::from("eventname")));
        assert!(!props.dictionary_enabled(&ColumnPath::from("requestparameters")));
    }

    #[test]
    fn quarantine_paths_never_escape() {
        for (name, want) in [
            ("AWSLogs/1/CloudTrail/a.json.gz", "AWSLogs/1/CloudTrail/a.json.gz"),
            ("../../etc/passwd", "etc/passwd"),
            ("/abs/path", "abs/path"),
            ("a/./b/../c", "a/b/c"),
            ("we ird\u{0}name?.gz", "we_ird_name_.gz"),
            ("...", "_"),
            ("", "unnamed"),
        ] {
            assert_eq!(safe_relative_path(name), want, "{name:?}");
        }
    }

    #[test]
    fn known_sources_match_name_and_size() {
        let mut k = KnownSources::default();
        k.insert("AWSLogs/a.json.gz", 10);
        assert!(k.contains("AWSLogs/a.json.gz", 10));
        assert!(!k.contains("AWSLogs/a.json.gz", 11));
        assert!(!k.contains("AWSLogs/b.json.gz", 10));
    }
}
