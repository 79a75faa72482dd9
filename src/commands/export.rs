//! `trailhouse export`: a slice of the lake as partitioned zstd Parquet, or as OCSF records
//! in Amazon Security Lake's layout.

use std::process::ExitCode;

use anyhow::Result;
use query::export::{ExportFormat, ExportMode};

use crate::args::{ClusterArgs, LakeAccess};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Where to write: a local folder or s3://bucket/prefix.
    #[arg(long, value_hint = clap::ValueHint::AnyPath)]
    pub to: String,
    /// A SQL condition over cloudtrail, e.g. "recipientaccountid = '111122223333'".
    #[arg(long = "where")]
    pub filter: Option<String>,
    /// Start (inclusive): 2026-11-02, 2026-11-02T10:00:00Z, or an age like 24h, 7d.
    #[arg(long)]
    pub since: Option<String>,
    /// End (exclusive), same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Columns to export (SQL select list) [default: all].
    #[arg(long)]
    pub columns: Option<String>,
    /// Hive-style partition columns, comma-separated; "none" for a flat folder.
    #[arg(long, default_value = "eventdate")]
    pub partition_by: String,
    /// What to do with files already in --to: overwrite (replace the Parquet files of each
    /// partition folder this export writes, other partitions kept; every Parquet file with
    /// --partition-by none), append (add beside them), error (refuse a non-empty target)
    /// [default: overwrite an earlier trailhouse export; refuse Parquet files without its
    /// _trailhouse_export.json manifest].
    #[arg(long, value_enum, env = "TRAILHOUSE_EXPORT_MODE")]
    pub mode: Option<ExportMode>,
    /// What to write: the lake's columns as Parquet, or OCSF records (API Activity 6003,
    /// Authentication 3002, Account Change 3001) as Parquet in Amazon Security Lake's
    /// custom-source layout under <to>/ext/<source>/ (--partition-by and --columns do not
    /// apply).
    #[arg(long, value_enum, default_value = "parquet", env = "TRAILHOUSE_EXPORT_FORMAT")]
    pub format: ExportFormat,
    /// The Security Lake custom source's name for --format ocsf (the folder under ext/).
    #[arg(long, default_value = "trailhouse_cloudtrail", env = "TRAILHOUSE_EXPORT_OCSF_SOURCE")]
    pub ocsf_source: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// "OCSF records: 6003 API Activity 1200 (14 of them activity 99, Other), ...".
fn ocsf_summary(counts: &[query::export::OcsfCount]) -> String {
    let mut parts = Vec::new();
    for (class, name) in [(6003, "API Activity"), (3002, "Authentication"), (3001, "Account Change")] {
        let of_class = counts.iter().filter(|c| c.class_uid == class);
        let total: u64 = of_class.clone().map(|c| c.records).sum();
        let other: u64 = of_class.filter(|c| c.activity_id == 99 || c.activity_id == 0).map(|c| c.records).sum();
        if total > 0 {
            parts.push(format!("{class} {name} {total} ({other} placed as activity Other or Unknown)"));
        }
    }
    format!("OCSF {} records: {}.", query::ocsf::OCSF_VERSION, parts.join(", "))
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let aws = a.lake.aws();
    let session = a.cluster.session(&a.lake).await?;
    let partition_by = match a.partition_by.trim() {
        "" | "none" => vec![],
        list => list.split(',').map(|c| c.trim().to_string()).collect(),
    };
    let options = query::export::ExportOptions {
        filter: a.filter.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        columns: a.columns.clone(),
        to: a.to.clone(),
        partition_by,
        storage_options: aws.lake_storage_options(),
        mode: a.mode,
        format: a.format,
        ocsf_source: a.ocsf_source.clone(),
    };
    let s = query::export::export(&session, &options).await?;
    if a.json {
        let v = serde_json::json!({
            "rows": s.rows,
            "seconds": s.seconds,
            "to": a.to,
            "sql": s.sql,
            "mode": s.mode.as_str(),
            "files": s.files,
            "replaced_files": s.replaced_files,
            "manifest": s.manifest,
            "ocsf": s.ocsf,
        });
        println!("{v}");
    } else {
        println!(
            "Exported {} rows to {} in {:.2} s ({}): {} files written, {} files of an earlier export replaced (--mode {}).",
            s.rows, a.to, s.seconds, s.sql, s.files, s.replaced_files, s.mode
        );
        if !s.ocsf.is_empty() {
            println!("{}", ocsf_summary(&s.ocsf));
        }
    }
    Ok(ExitCode::SUCCESS)
}
