//! How the lake writes Parquet: file and row-group sizes, zstd, which columns get
//! statistics and dictionaries.

use std::collections::HashMap;

use deltalake::DeltaTable;
use deltalake::writer::RecordBatchWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::{Lake, LakeError, Result, schema};

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
    /// Rows an ingest lane's hourly rollup holds before it writes them out
    /// ([`crate::rollup::SPILL_ROWS`]).
    pub rollup_spill_rows: usize,
}

impl Default for LakeOptions {
    fn default() -> Self {
        LakeOptions {
            storage_options: HashMap::new(),
            target_file_bytes: 128 << 20,
            row_group_rows: 128 * 1024,
            page_rows: 4096,
            zstd_level: 1,
            rollup_spill_rows: crate::rollup::SPILL_ROWS,
        }
    }
}

impl LakeOptions {
    /// The Parquet writer settings of a lake with these options.
    pub fn writer_properties(&self) -> WriterProperties {
        let level = ZstdLevel::try_new(self.zstd_level).unwrap_or_default();
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_data_page_row_count_limit(self.page_rows)
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

    /// The settings of the lake's small tables (alerts, detection runs, digests): zstd, and
    /// Parquet's defaults otherwise (statistics on every column).
    pub fn small_table_properties(&self) -> WriterProperties {
        let level = ZstdLevel::try_new(self.zstd_level).unwrap_or_default();
        WriterProperties::builder().set_compression(Compression::ZSTD(level)).build()
    }

    /// The settings `trailhouse compact` rewrites files with: the ingest's, plus a bloom
    /// filter per row group on the [`schema::NEEDLE_COLUMNS`] at 1% false positives
    /// (sized for a row group's rows, then folded by the writer down to the values it saw:
    /// an access key column of a few hundred keys gets a filter of a few hundred bytes).
    /// Ingest does not write them: they cost CPU on the hot path, and compaction rewrites
    /// every file an analyst reads anyway.
    pub fn compaction_properties(&self) -> WriterProperties {
        let mut props = self.writer_properties().into_builder();
        for c in schema::NEEDLE_COLUMNS {
            let path = ColumnPath::new(c.split('.').map(str::to_string).collect());
            props = props
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_fpp(path.clone(), 0.01)
                .set_column_bloom_filter_max_ndv(path, self.row_group_rows as u64);
        }
        props.build()
    }
}

impl Lake {
    /// A writer streaming Parquet files into `table` (uncommitted until
    /// [`Lake::commit_run`]).
    pub fn writer(&self, table: &DeltaTable) -> Result<RecordBatchWriter> {
        Ok(RecordBatchWriter::for_table(table)
            .map_err(LakeError::delta(&self.location))?
            .with_writer_properties(self.options.writer_properties())
            .with_target_file_size(self.options.target_file_bytes))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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
        let props = LakeOptions::default().writer_properties();
        assert!(!props.dictionary_enabled(&ColumnPath::from(vec!["useridentity".into(), "arn".into()])));
        assert!(props.dictionary_enabled(&ColumnPath::from(vec!["useridentity".into(), "type".into()])));
        assert!(props.dictionary_enabled(&ColumnPath::from("eventname")));
        assert!(!props.dictionary_enabled(&ColumnPath::from("requestparameters")));
    }
}
