//! DataFusion's own Parquet scan over one version of a Delta table.
//!
//! delta-rs's table provider wraps the Parquet scan in a node of its own that reads whole
//! top-level columns: `WHERE useridentity.type = 'Root'` reads every field of
//! `useridentity`. [`LakeTable`] instead resolves the Delta snapshot (version, files,
//! partition values, per-file statistics) into a [`ScanFiles`] list and hands DataFusion a
//! plain `DataSourceExec` over a `ParquetSource` with exactly those files, so the scan gets
//! everything DataFusion does for Parquet: leaf projection of struct fields, row filters
//! on nested fields, page-index and row-group pruning, cached footers, and `count(*)`
//! from the files' row counts.
//!
//! Files are skipped before the scan is planned by the filters DataFusion pushes to the
//! table: partition values (`eventdate`) and the Delta log's per-file min/max/null counts.
//!
//! [`ScanFiles`] is a plain, serialisable description of the files a query reads (no
//! delta-rs type in it): what a distributed engine ships to its executors.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::stats::Precision;
use deltalake::datafusion::common::{DFSchema, ScalarValue, Statistics};
use deltalake::datafusion::datasource::TableType;
use deltalake::datafusion::datasource::file_format::FileFormat;
use deltalake::datafusion::datasource::file_format::parquet::ParquetFormat;
use deltalake::datafusion::datasource::listing::PartitionedFile;
use deltalake::datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use deltalake::datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use deltalake::datafusion::datasource::table_schema::TableSchema;
use deltalake::datafusion::error::{DataFusionError, Result as DfResult};
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::logical_expr::utils::conjunction;
use deltalake::datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use deltalake::datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::datafusion::physical_plan::empty::EmptyExec;
use deltalake::table::state::DeltaTableState;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::leaf_bloom::{LeafValues, keep_row_groups, leaf_equalities};
use crate::{LakeError, Result};

/// One Parquet data file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the table's root, as the Delta log names it (decoded).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The file's partition values, by column, as the Delta log spells them (`None`: null).
    pub partition_values: BTreeMap<String, Option<String>>,
    /// Rows in the file, from the Delta log's statistics.
    pub num_records: Option<u64>,
    /// Which of the file's row groups to read, one flag each (`None`: all of them): set
    /// when the files' bloom filters rule some out ([`crate::leaf_bloom`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_groups: Option<Vec<bool>>,
}

/// The data files one query reads from one version of a table: where the table is, which
/// version, and the files that survived partition and statistics pruning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanFiles {
    /// The table's root (`file:///...` or `s3://bucket/prefix/table`).
    pub table_url: String,
    /// The Delta version the files belong to.
    pub version: u64,
    /// Files in the version before pruning (after a file selection, if any).
    pub candidates: usize,
    pub files: Vec<DataFile>,
}

impl ScanFiles {
    /// Total bytes of the files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A Delta table as a DataFusion table, read through DataFusion's Parquet scan.
///
/// Its schema is the table's columns followed by its partition columns (the order the
/// lake's tables already have). The object store for the table's URL must be registered
/// in the session (`DeltaTable::update_datafusion_session`).
#[derive(Clone)]
pub struct LakeTable {
    state: DeltaTableState,
    layout: FileLayout,
    selection: Option<Arc<HashSet<String>>>,
    scans: Arc<Mutex<Vec<ScanSummary>>>,
    /// The hourly rollup that summarizes this version's rows, when it is known to
    /// ([`crate::rollup::InStep`]); never on a selection of files.
    rollup: Option<Arc<crate::rollup::InStep>>,
}

/// Where a table's files are and how its rows are laid out: all a Parquet scan of some of
/// its files needs, with no Delta state.
#[derive(Debug, Clone)]
struct FileLayout {
    table_url: Url,
    store_url: ObjectStoreUrl,
    /// The table's columns followed by its partition columns.
    schema: SchemaRef,
    /// The columns stored in the files.
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
}

/// What one planned scan of a [`LakeTable`] reads, for `EXPLAIN ANALYZE` notes and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSummary {
    /// Files the scan reads.
    pub files: usize,
    /// Files it could have read (the version's, within the selection).
    pub candidates: usize,
    /// Bytes of the files it reads.
    pub bytes: u64,
    /// Row groups of those files (and files) a struct-leaf bloom filter ruled out.
    pub row_groups_skipped: usize,
}

impl fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeTable")
            .field("table_url", &self.layout.table_url.as_str())
            .field("version", &self.state.version())
            .field("selection", &self.selection.as_ref().map(|s| s.len()))
            .finish()
    }
}

impl LakeTable {
    /// The loaded version of `table`.
    pub fn try_new(table: &DeltaTable) -> Result<Self> {
        let location = table.table_url().to_string();
        let state =
            table.snapshot().map_err(|e| LakeError::Delta { location: location.clone(), cause: Box::new(e) })?.clone();
        let table_url = table.log_store().root_url().clone();
        let logical = state.snapshot().arrow_schema();
        let partition_columns = state.metadata().partition_columns().to_vec();
        let (partition_fields, data_fields): (Vec<FieldRef>, Vec<FieldRef>) =
            logical.fields().iter().cloned().partition(|f| partition_columns.contains(f.name()));
        // The table's columns, then its partition columns (whose values come from the paths).
        let mut all = data_fields;
        all.extend(partition_fields.iter().map(|f| Arc::new(Field::clone(f))));
        let layout = FileLayout::new(table_url, Arc::new(Schema::new(all)), &partition_columns)
            .map_err(|e| LakeError::state(&location, e.to_string()))?;
        Ok(LakeTable { state, layout, selection: None, scans: Arc::default(), rollup: None })
    }

    /// This table read as `want`, a schema that only adds nullable columns or struct fields
    /// to the table's own: a lake written before this build learnt a column reads it as
    /// NULL (the files lack it) without being upgraded first, so a reader without write
    /// access sees the same columns as one that upgraded it. Unchanged when `want` is not
    /// such a superset (or is the table's schema already).
    pub fn reading_as(mut self, want: &SchemaRef) -> Result<Self> {
        let diff = crate::evolve::diff(&self.layout.schema, want);
        if diff.added.is_empty() || !diff.conflicts.is_empty() {
            return Ok(self);
        }
        let partition_columns: Vec<String> = self.layout.partition_fields.iter().map(|f| f.name().clone()).collect();
        // The table's column order (data, then partitions), each as `want` has it.
        let (partition_fields, data_fields): (Vec<FieldRef>, Vec<FieldRef>) =
            want.fields().iter().cloned().partition(|f| partition_columns.contains(f.name()));
        let mut all = data_fields;
        all.extend(partition_fields);
        let location = self.layout.table_url.to_string();
        self.layout = FileLayout::new(self.layout.table_url.clone(), Arc::new(Schema::new(all)), &partition_columns)
            .map_err(|e| LakeError::state(&location, e.to_string()))?;
        Ok(self)
    }

    /// Every file of the version (within the selection), unpruned, as a table a distributed
    /// engine's scheduler can plan without reading the Delta log: it prunes by partition
    /// values itself, and the Parquet scan by row-group statistics.
    pub fn shipped(&self) -> ShippedScan {
        ShippedScan { layout: self.layout.clone(), files: self.listed(None) }
    }

    /// Reads only the files whose paths (relative to the table, as in the Delta log) are in
    /// `paths`; paths the version does not hold (compacted away) are ignored.
    pub fn with_selection(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        self.selection = Some(Arc::new(paths.into_iter().collect()));
        // A rollup summarizes whole versions, not some of their files.
        self.rollup = None;
        self
    }

    /// Attaches the rollup that summarizes this version (see [`crate::rollup::InStep`]).
    pub fn with_rollup(mut self, rollup: crate::rollup::InStep) -> Self {
        if self.selection.is_none() {
            self.rollup = Some(Arc::new(rollup));
        }
        self
    }

    /// The rollup attached with [`Self::with_rollup`].
    pub fn rollup(&self) -> Option<&crate::rollup::InStep> {
        self.rollup.as_deref()
    }

    /// The Delta state this table reads.
    pub fn state(&self) -> &DeltaTableState {
        &self.state
    }

    /// The scans planned since the last call, oldest first.
    pub fn take_scans(&self) -> Vec<ScanSummary> {
        self.scans.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default()
    }

    /// The Delta version this table reads.
    pub fn version(&self) -> u64 {
        self.state.version()
    }

    /// Data files in the version (within the selection, if any).
    pub fn file_count(&self) -> usize {
        match &self.selection {
            None => self.state.log_data().num_files(),
            Some(s) => self.state.log_data().iter().filter(|f| s.contains(f.path().as_ref())).count(),
        }
    }

    /// The size of its data files (within the selection, if any), in bytes.
    pub fn bytes(&self) -> u64 {
        let selected = |p: &str| self.selection.as_ref().is_none_or(|s| s.contains(p));
        self.state
            .log_data()
            .iter()
            .filter(|f| selected(f.path().as_ref()))
            .map(|f| u64::try_from(f.size()).unwrap_or_default())
            .sum()
    }

    /// The files a scan with `filters` reads: partition values and the Delta statistics
    /// skip the rest. A filter the statistics cannot decide keeps every file.
    pub fn files(&self, session: &dyn Session, filters: &[Expr]) -> DfResult<ScanFiles> {
        let keep = self.layout.keep(session, filters, &self.state.log_data())?;
        Ok(self.listed(keep.as_deref()))
    }

    /// The version's files within the selection, those `keep` rules out left out (one flag
    /// per file of the version, in the log's order).
    fn listed(&self, keep: Option<&[bool]>) -> ScanFiles {
        let mut files = Vec::new();
        let mut candidates = 0;
        for (i, file) in self.state.log_data().iter().enumerate() {
            let path = file.path();
            if self.selection.as_ref().is_some_and(|s| !s.contains(path.as_ref())) {
                continue;
            }
            candidates += 1;
            if keep.is_some_and(|k| !k.get(i).copied().unwrap_or(true)) {
                continue;
            }
            files.push(DataFile {
                path: path.into_owned(),
                size: u64::try_from(file.size()).unwrap_or_default(),
                partition_values: file.partition_values_map().into_iter().collect(),
                num_records: file.num_records().map(|n| n as u64),
                row_groups: None,
            });
        }
        ScanFiles { table_url: self.layout.table_url.to_string(), version: self.version(), candidates, files }
    }

    /// DataFusion's Parquet scan of `files` (see [`FileLayout::plan`]).
    pub async fn plan(
        &self,
        session: &dyn Session,
        files: &ScanFiles,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.layout.plan(session, files, projection, limit).await
    }

    /// Marks the row groups of `files` that the bloom filters on struct leaves rule out for
    /// `leaves`, drops files left with none, and returns how many row groups were skipped.
    /// Files are read concurrently; their footers stay in the session's metadata cache for
    /// the scan.
    async fn skip_row_groups(
        &self,
        session: &dyn Session,
        files: &mut ScanFiles,
        leaves: &[LeafValues],
    ) -> DfResult<usize> {
        let store = session.runtime_env().object_store(&self.layout.store_url)?;
        let cache = Some(session.runtime_env().cache_manager.get_file_metadata_cache());
        let metas: Vec<_> = files.files.iter().map(|f| self.layout.partitioned_file(f).object_meta).collect();
        let keeps: Vec<Option<Vec<bool>>> = futures::stream::iter(metas)
            .map(|meta| {
                let (store, cache) = (store.clone(), cache.clone());
                async move { keep_row_groups(store.as_ref(), &meta, cache, leaves).await }
            })
            .buffered(16)
            .collect()
            .await;
        let mut skipped = 0;
        for (file, keep) in files.files.iter_mut().zip(keeps) {
            if let Some(keep) = keep.filter(|k| k.contains(&false)) {
                skipped += keep.iter().filter(|k| !**k).count();
                file.row_groups = Some(keep);
            }
        }
        files.files.retain(|f| f.row_groups.as_ref().is_none_or(|k| k.contains(&true)));
        Ok(skipped)
    }
}

impl FileLayout {
    /// Which of the files `stats` describes can hold rows matching `filters` (`None`: all,
    /// when there is no filter or the statistics cannot decide it).
    fn keep(
        &self,
        session: &dyn Session,
        filters: &[Expr],
        stats: &dyn deltalake::datafusion::common::pruning::PruningStatistics,
    ) -> DfResult<Option<Vec<bool>>> {
        let Some(predicate) = conjunction(filters.iter().cloned()) else { return Ok(None) };
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let physical = session.create_physical_expr(predicate, &df_schema)?;
        match PruningPredicateBuilder::new()
            .with_file_schema(self.schema.clone())
            .try_build(physical)
            .and_then(|p| p.prune(stats))
        {
            Ok(keep) => Ok(Some(keep)),
            Err(e) => {
                tracing::debug!(error = %e, "no file skipping for this filter");
                Ok(None)
            }
        }
    }

    /// The layout of a table at `table_url` whose columns are `schema`, the last of them
    /// the `partition_columns`.
    fn new(table_url: Url, schema: SchemaRef, partition_columns: &[String]) -> DfResult<FileLayout> {
        let store_url = ObjectStoreUrl::parse(format!(
            "{}://{}",
            table_url.scheme(),
            &table_url[url::Position::BeforeHost..url::Position::AfterPort]
        ))?;
        let (partition_fields, data_fields): (Vec<FieldRef>, Vec<FieldRef>) =
            schema.fields().iter().cloned().partition(|f| partition_columns.contains(f.name()));
        Ok(FileLayout {
            table_url,
            store_url,
            schema,
            file_schema: Arc::new(Schema::new(data_fields)),
            partition_fields,
        })
    }

    /// DataFusion's Parquet scan of `files`, split into `partitions` groups of about equal
    /// bytes, projected to `projection` (indices into [`TableProvider::schema`]).
    pub async fn plan(
        &self,
        session: &dyn Session,
        files: &ScanFiles,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if files.files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let mut total_rows = Some(0usize);
        let mut parts = Vec::with_capacity(files.files.len());
        for f in &files.files {
            let mut values = Vec::with_capacity(self.partition_fields.len());
            for field in &self.partition_fields {
                let raw = f.partition_values.get(field.name()).cloned().flatten();
                values.push(match raw {
                    Some(v) => ScalarValue::try_from_string(v, field.data_type())?,
                    None => ScalarValue::try_from(field.data_type())?,
                });
            }
            let mut stats = Statistics::new_unknown(&self.file_schema);
            stats.total_byte_size = Precision::Inexact(f.size as usize);
            // Row groups left out make the file's row count an upper bound only.
            match f.num_records.filter(|_| f.row_groups.is_none()) {
                Some(n) => {
                    stats.num_rows = Precision::Exact(n as usize);
                    total_rows = total_rows.map(|t| t + n as usize);
                }
                None => total_rows = None,
            }
            let mut part = self.partitioned_file(f).with_partition_values(values).with_statistics(Arc::new(stats));
            if let Some(keep) = &f.row_groups {
                let access =
                    keep.iter().map(|&k| if k { RowGroupAccess::Scan } else { RowGroupAccess::Skip }).collect();
                part = part.with_extension(ParquetAccessPlan::new(access));
            }
            parts.push(part);
        }
        let groups = balanced_groups(parts, session.config().target_partitions());
        let mut table_stats = Statistics::new_unknown(&self.schema);
        table_stats.num_rows = total_rows.map_or(Precision::Absent, Precision::Exact);
        table_stats.total_byte_size = Precision::Inexact(files.bytes() as usize);

        let format = ParquetFormat::default().with_options(session.table_options().parquet.clone());
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let config = FileScanConfigBuilder::new(self.store_url.clone(), format.file_source(table_schema))
            .with_file_groups(groups)
            .with_statistics(table_stats)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(session, config).await
    }

    /// `f` as the object store sees it: its path relative to the store's root (no leading
    /// or trailing '/'), its size.
    fn partitioned_file(&self, f: &DataFile) -> PartitionedFile {
        let root = self.table_url.path().trim_matches('/');
        PartitionedFile::new(format!("{root}/{}", f.path), f.size)
    }
}

/// Spreads files over `n` groups, biggest first, each to the group with the fewest bytes.
fn balanced_groups(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    let n = n.clamp(1, files.len().max(1));
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in files {
        let Some(g) = groups.iter_mut().min_by_key(|g| g.0) else { break };
        g.0 += f.object_meta.size;
        g.1.push(f);
    }
    groups.into_iter().filter(|g| !g.1.is_empty()).map(|g| FileGroup::new(g.1)).collect()
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.layout.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut files = self.files(session, filters)?;
        let leaves = leaf_equalities(filters);
        let row_groups_skipped =
            if leaves.is_empty() { 0 } else { self.skip_row_groups(session, &mut files, &leaves).await? };
        tracing::debug!(
            table = %files.table_url,
            version = files.version,
            files = files.files.len(),
            of = files.candidates,
            bytes = files.bytes(),
            "scan"
        );
        if let Ok(mut scans) = self.scans.lock() {
            // Kept for the caller that asks (EXPLAIN ANALYZE); a long session keeps the last few.
            if scans.len() >= 64 {
                scans.remove(0);
            }
            scans.push(ScanSummary {
                files: files.files.len(),
                candidates: files.candidates,
                bytes: files.bytes(),
                row_groups_skipped,
            });
        }
        // A limit may stop early only when no filter has to run first.
        let limit = if filters.is_empty() { limit } else { None };
        self.plan(session, &files, projection, limit).await
    }

    /// Every filter is offered to file skipping and then to the Parquet scan (row groups,
    /// pages, row filters); DataFusion still applies it above the scan.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

impl From<LakeError> for DataFusionError {
    fn from(e: LakeError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// Files of one version of a lake table, chosen by a client that read the Delta log, as a
/// table: what a distributed engine's scheduler plans a scan of without the Delta log
/// (DataFusion Ballista's, `cluster`). Its scan keeps the files whose partition
/// values can match the filters; the Parquet scan then prunes row groups and pages by
/// their statistics as usual.
#[derive(Debug, Clone)]
pub struct ShippedScan {
    layout: FileLayout,
    files: ScanFiles,
}

/// What a [`ShippedScan`] travels as (its schema travels beside it, in the plan).
#[derive(Serialize, Deserialize)]
struct ShippedWire {
    partition_columns: Vec<String>,
    files: ScanFiles,
}

impl ShippedScan {
    /// Its bytes (JSON), for a plan codec.
    pub fn to_bytes(&self) -> DfResult<Vec<u8>> {
        let wire = ShippedWire {
            partition_columns: self.layout.partition_fields.iter().map(|f| f.name().clone()).collect(),
            files: self.files.clone(),
        };
        serde_json::to_vec(&wire).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// A scan from [`to_bytes`](Self::to_bytes) and the table's `schema`.
    pub fn from_bytes(bytes: &[u8], schema: SchemaRef) -> DfResult<ShippedScan> {
        let wire: ShippedWire = serde_json::from_slice(bytes).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let table_url = Url::parse(&wire.files.table_url)
            .map_err(|e| DataFusionError::Plan(format!("a shipped scan's table URL {}: {e}", wire.files.table_url)))?;
        Ok(ShippedScan { layout: FileLayout::new(table_url, schema, &wire.partition_columns)?, files: wire.files })
    }

    /// The files it may read.
    pub fn files(&self) -> &ScanFiles {
        &self.files
    }

    /// The files whose partition values can satisfy `filters`.
    fn pruned(&self, session: &dyn Session, filters: &[Expr]) -> DfResult<ScanFiles> {
        let stats = PartitionValues { fields: &self.layout.partition_fields, files: &self.files.files };
        let Some(keep) = self.layout.keep(session, filters, &stats)? else { return Ok(self.files.clone()) };
        let files = self.files.files.iter().zip(keep).filter(|(_, k)| *k).map(|(f, _)| f.clone()).collect();
        Ok(ScanFiles { files, ..self.files.clone() })
    }
}

#[async_trait]
impl TableProvider for ShippedScan {
    fn schema(&self) -> SchemaRef {
        self.layout.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let files = self.pruned(session, filters)?;
        tracing::debug!(table = %files.table_url, files = files.files.len(), of = files.candidates, "shipped scan");
        let limit = if filters.is_empty() { limit } else { None };
        self.layout.plan(session, &files, projection, limit).await
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

/// Each file's partition values as its min and max: what pruning by partition needs.
struct PartitionValues<'a> {
    fields: &'a [FieldRef],
    files: &'a [DataFile],
}

impl PartitionValues<'_> {
    fn values(&self, column: &deltalake::datafusion::common::Column) -> Option<arrow::array::ArrayRef> {
        let field = self.fields.iter().find(|f| f.name() == &column.name)?;
        let values = self.files.iter().map(|f| match f.partition_values.get(field.name()).cloned().flatten() {
            Some(v) => ScalarValue::try_from_string(v, field.data_type()),
            None => ScalarValue::try_from(field.data_type()),
        });
        let values: Vec<ScalarValue> = values.collect::<DfResult<_>>().ok()?;
        ScalarValue::iter_to_array(values).ok()
    }
}

impl deltalake::datafusion::common::pruning::PruningStatistics for PartitionValues<'_> {
    fn min_values(&self, column: &deltalake::datafusion::common::Column) -> Option<arrow::array::ArrayRef> {
        self.values(column)
    }

    fn max_values(&self, column: &deltalake::datafusion::common::Column) -> Option<arrow::array::ArrayRef> {
        self.values(column)
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, _column: &deltalake::datafusion::common::Column) -> Option<arrow::array::ArrayRef> {
        None
    }

    fn row_counts(&self) -> Option<arrow::array::ArrayRef> {
        None
    }

    fn contained(
        &self,
        _column: &deltalake::datafusion::common::Column,
        _values: &HashSet<ScalarValue>,
    ) -> Option<arrow::array::BooleanArray> {
        None
    }
}
