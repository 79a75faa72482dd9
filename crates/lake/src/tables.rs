//! The [`Lake`] handle: where the lake is, its tables by name, opening and creating them.

use std::collections::HashMap;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use crate::location::{create_local_dir, location_url, register_handlers};
use crate::writer::LakeOptions;
use crate::{LakeError, Result, ledger, schema};

/// The events, partitioned by `eventdate`.
pub const CLOUDTRAIL_TABLE: &str = "cloudtrail";
/// The ledger: one row per source object ingested or quarantined.
pub const LEDGER_TABLE: &str = "ingested_files";
/// Files that could not be decoded, each beside a `.error.json` (a folder, not a table).
pub const QUARANTINE_DIR: &str = "quarantine";
/// Alerts raised by detection runs.
pub const ALERTS_TABLE: &str = "alerts";
/// One row per detection run; its `to_version` is the incremental watermark.
pub const RUNS_TABLE: &str = "detection_runs";
/// What the stateful detections have seen (key -> first and last seen), kept up to date
/// from the new rows of each run instead of rescanning a lookback.
pub const BASELINES_TABLE: &str = "baselines";
/// Alert triage: one row per change of an alert's state (open, acknowledged, closed with a
/// note); an alert's state is its newest row.
pub const TRIAGE_TABLE: &str = "alert_triage";
/// Incidents: a detection run's alerts about one identity within a window, grouped, scored
/// and kept current (an identity's rows are replaced when its alerts change).
pub const INCIDENTS_TABLE: &str = "incidents";
/// Alert exceptions: one row per change (added, removed); an exception's state is its
/// newest row.
pub const EXCEPTIONS_TABLE: &str = "exceptions";
/// The routing outbox: one row per delivery attempt of an alert to a destination
/// (pending, delivered, failed, resolved); a pair's state is its newest row.
pub const DELIVERIES_TABLE: &str = "alert_deliveries";

/// Every Delta table a lake may hold, in the order a listing shows them.
pub const TABLES: [&str; 11] = [
    CLOUDTRAIL_TABLE,
    LEDGER_TABLE,
    crate::INTEGRITY_TABLE,
    ALERTS_TABLE,
    RUNS_TABLE,
    BASELINES_TABLE,
    TRIAGE_TABLE,
    INCIDENTS_TABLE,
    EXCEPTIONS_TABLE,
    DELIVERIES_TABLE,
    crate::ROLLUPS_TABLE,
];

/// The tables every lake has (`Lake::open_or_create` makes them); the others appear once
/// something writes them (`detect`, a digest, the console's triage).
pub const REQUIRED_TABLES: [&str; 2] = [CLOUDTRAIL_TABLE, LEDGER_TABLE];

/// An opened lake.
#[derive(Debug, Clone)]
pub struct Lake {
    pub(crate) location: String,
    root: Url,
    pub(crate) options: LakeOptions,
}

impl Lake {
    /// Opens the lake at `location`, creating its tables when missing, and upgrades a
    /// `cloudtrail` table written by an older build to this build's schema
    /// ([`crate::evolve`]).
    pub async fn open_or_create(location: &str, options: &LakeOptions) -> Result<Lake> {
        register_handlers();
        if !location.contains("://") && std::path::Path::new(location).is_file() {
            return Err(LakeError::state(
                location,
                "this is a file; a lake is a folder (give a new or existing folder)",
            ));
        }
        let lake = Lake { location: location.to_string(), root: location_url(location)?, options: options.clone() };
        let created =
            lake.ensure_table(CLOUDTRAIL_TABLE, &schema::cloudtrail_schema(), schema::PARTITION_COLUMNS).await?;
        if !created {
            lake.evolve_cloudtrail().await?;
        }
        if !lake.ensure_table(LEDGER_TABLE, &ledger::ledger_schema(), &[]).await? {
            // A ledger written before integrity validation lacks its columns.
            lake.evolve_table(LEDGER_TABLE, &ledger::ledger_schema()).await?;
        }
        // Here, once, rather than by the first of the ingest lanes to write rollup rows:
        // two lanes creating it at once would both try to commit its version 0.
        lake.ensure_table(
            crate::ROLLUPS_TABLE,
            &crate::rollup::rollup_schema(),
            crate::rollup::ROLLUP_PARTITION_COLUMNS,
        )
        .await?;
        Ok(lake)
    }

    /// Opens an existing lake without creating or changing anything.
    pub async fn open_existing(location: &str, options: &LakeOptions) -> Result<Lake> {
        register_handlers();
        if !location.contains("://") {
            let path = std::path::Path::new(location);
            if !path.join(CLOUDTRAIL_TABLE).join("_delta_log").is_dir() {
                return Err(LakeError::state(
                    location,
                    "no lake here; fill one with `trailhouse ingest --source DIR` or `trailhouse demo`",
                ));
            }
        }
        Ok(Lake { location: location.to_string(), root: location_url(location)?, options: options.clone() })
    }

    /// How this lake writes.
    pub fn options(&self) -> &LakeOptions {
        &self.options
    }

    /// The location as the user gave it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The URL of a table (or folder) inside the lake.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        self.root.join(&format!("{name}/")).map_err(|_| LakeError::Location(format!("{}{name}", self.root)))
    }

    pub(crate) fn builder(&self, name: &str) -> Result<DeltaTableBuilder> {
        DeltaTableBuilder::from_url(self.table_url(name)?)
            .map(|b| b.with_storage_options(self.options.storage_options.clone()))
            .map_err(LakeError::delta(&self.location))
    }

    /// Loads a table of the lake at its latest version.
    pub async fn table(&self, name: &str) -> Result<DeltaTable> {
        self.builder(name)?.load().await.map_err(LakeError::delta(&self.location))
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
            Err(e) => Err(LakeError::delta(&self.location)(e)),
        }
    }

    /// Appends `batches` to a small table of the lake (alerts, detection runs), creating
    /// it with their schema on first use. One atomic commit; returns its version.
    pub async fn append(&self, name: &str, batches: Vec<RecordBatch>) -> Result<u64> {
        self.append_partitioned(name, &[], batches).await
    }

    /// [`Lake::append`] to a table partitioned by `partition_by` (given when it is created).
    pub async fn append_partitioned(
        &self,
        name: &str,
        partition_by: &[&str],
        batches: Vec<RecordBatch>,
    ) -> Result<u64> {
        let err = LakeError::delta(&self.location);
        let url = self.table_url(name)?;
        create_local_dir(&url)?;
        let table = match (self.try_table(name).await?, batches.first()) {
            (Some(t), _) => t,
            // Created first, on its own, so that two writers appending to a new table at
            // once (ingesters recording digests) make one table with both their rows.
            (None, Some(first)) => {
                self.ensure_table(name, &first.schema(), partition_by).await?;
                self.table(name).await?
            }
            (None, None) => self.builder(name)?.build().map_err(&err)?,
        };
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(table.version().unwrap_or_default());
        }
        // Written, then committed by the lake's own commit: never twice (see `commit_adds`).
        let mut table = table;
        let mut writer = RecordBatchWriter::for_table(&table)
            .map_err(&err)?
            .with_writer_properties(self.options.small_table_properties());
        for batch in batches {
            writer.write(batch).await.map_err(&err)?;
        }
        let adds = writer.flush().await.map_err(&err)?;
        crate::commit::commit_adds(&mut table, adds, HashMap::new()).await.map_err(&err)
    }

    /// Replaces the rows of a small table of the lake that match `predicate` (SQL over its
    /// columns, e.g. one partition) with `batches`: one atomic commit; readers of older
    /// versions keep theirs until a VACUUM.
    pub async fn replace_where(&self, name: &str, predicate: &str, batches: Vec<RecordBatch>) -> Result<u64> {
        let err = LakeError::delta(&self.location);
        let table = self.table(name).await?;
        let table = table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(predicate.to_string())
            .with_table_name(name)
            .await
            .map_err(&err)?;
        Ok(table.version().unwrap_or_default())
    }

    /// How many data files each partition of a table has (keyed by the partition's folder,
    /// `column=value`), or `None` when the lake lacks the table.
    pub async fn files_per_partition(&self, name: &str) -> Result<Option<std::collections::BTreeMap<String, usize>>> {
        let Some(table) = self.try_table(name).await? else { return Ok(None) };
        let mut out = std::collections::BTreeMap::new();
        for uri in table.get_file_uris().map_err(LakeError::delta(&self.location))? {
            let folder = uri.rsplit('/').nth(1).unwrap_or_default().to_string();
            *out.entry(folder).or_default() += 1;
        }
        Ok(Some(out))
    }

    /// Creates a table when missing; returns whether this call created it.
    pub(crate) async fn ensure_table(&self, name: &str, arrow_schema: &SchemaRef, partitions: &[&str]) -> Result<bool> {
        let err = LakeError::delta(&self.location);
        let url = self.table_url(name)?;
        create_local_dir(&url)?;
        let mut table = self.builder(name)?.build().map_err(&err)?;
        // A local folder without a log is new: loading it would only log delta-rs's
        // "No files in log segment" error before the create.
        let local_new = url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.join("_delta_log").is_dir());
        if !local_new {
            match table.load().await {
                Ok(()) => return Ok(false),
                Err(DeltaTableError::NotATable(_)) => {}
                Err(e) => return Err(err(e)),
            }
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
            // No retries: when another process commits version 0 first, delta-rs (1.1)
            // would otherwise commit this create again as version 1 (a second protocol and
            // metadata action over the winner's).
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .await;
        match created {
            Ok(_) => Ok(true),
            // Another process (an ingester on the same queue) committed version 0 first
            // (VersionAlreadyExists, or MaxCommitAttempts without retries): the table now
            // exists. Anything else still fails to load, and the first error is reported.
            Err(e) => match self.try_table(name).await {
                Ok(Some(_)) => Ok(false),
                Ok(None) | Err(_) => Err(err(e)),
            },
        }
    }
}
