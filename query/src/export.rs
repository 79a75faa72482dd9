//! `trailhouse export`: a slice of the lake as partitioned zstd Parquet in a folder or an
//! S3 prefix, for BI tools and other engines. A friendly wrapper over
//! `COPY (SELECT ...) TO ... PARTITIONED BY (...)`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use lake::schema::{EVENT_DATE, EVENT_TIME};
use lake::time::{civil_from_days, format_canonical, now_micros, parse_duration};

use crate::error::{QueryError, Result};
use crate::session::LakeSession;

/// What to export and where.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// A SQL condition over `cloudtrail` (e.g. `eventsource = 'iam.amazonaws.com'`).
    pub filter: Option<String>,
    /// Start of the window (inclusive): RFC 3339, a date, or an age such as `24h` / `7d`.
    pub since: Option<String>,
    /// End of the window (exclusive), same forms.
    pub until: Option<String>,
    /// The columns (default all).
    pub columns: Option<String>,
    /// A local folder or `s3://bucket/prefix`.
    pub to: String,
    /// Hive-style partition columns (default `eventdate`); empty for one flat folder.
    pub partition_by: Vec<String>,
    /// Storage settings for an `s3://` target (endpoint, region), as for the lake.
    pub storage_options: HashMap<String, String>,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub rows: u64,
    pub seconds: f64,
    pub sql: String,
}

/// The SELECT an export runs.
pub fn export_sql(o: &ExportOptions) -> Result<String> {
    let mut conditions = Vec::new();
    let now = now_micros();
    if let Some(s) = &o.since {
        let t = parse_instant(s, now)?;
        conditions.push(format!(
            "{EVENT_DATE} >= DATE '{}' AND {EVENT_TIME} >= TIMESTAMP '{}'",
            date_of(t),
            format_canonical(t)
        ));
    }
    if let Some(u) = &o.until {
        let t = parse_instant(u, now)?;
        conditions.push(format!(
            "{EVENT_DATE} <= DATE '{}' AND {EVENT_TIME} < TIMESTAMP '{}'",
            date_of(t),
            format_canonical(t)
        ));
    }
    if let Some(w) = &o.filter {
        conditions.push(format!("({w})"));
    }
    let columns = o.columns.as_deref().unwrap_or("*");
    let mut sql = format!("SELECT {columns} FROM cloudtrail");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    Ok(sql)
}

/// Runs the export.
pub async fn export(session: &LakeSession, o: &ExportOptions) -> Result<ExportSummary> {
    let started = Instant::now();
    let sql = export_sql(o)?;
    let mut target = o.to.clone();
    if let Some(rest) = target.strip_prefix("s3://") {
        register_s3(session, rest, &o.storage_options)?;
    } else {
        std::fs::create_dir_all(&target)
            .map_err(|source| QueryError::Io { context: format!("creating {target}"), source })?;
    }
    if !target.ends_with('/') {
        target.push('/');
    }
    let mut statements = session.statements(&sql)?;
    let df = session.plan(statements.remove(0)).await?;
    let mut parquet = TableParquetOptions::default();
    parquet.global.compression = Some("zstd(3)".into());
    let write = DataFrameWriteOptions::new().with_partition_by(o.partition_by.clone());
    let result = df.write_parquet(&target, write, Some(parquet)).await.map_err(|e| session.explain(e))?;
    let rows = result
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>())
        .map_or(0, |a| a.value(0));
    Ok(ExportSummary { rows, seconds: started.elapsed().as_secs_f64(), sql })
}

fn register_s3(session: &LakeSession, bucket_and_prefix: &str, options: &HashMap<String, String>) -> Result<()> {
    let bucket = bucket_and_prefix.split('/').next().unwrap_or_default();
    if bucket.is_empty() {
        return Err(QueryError::Usage("--to s3:// needs a bucket: s3://bucket/prefix".into()));
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (k, v) in options {
        if let Ok(key) = k.to_ascii_lowercase().parse() {
            builder = builder.with_config(key, v);
        }
    }
    let store = builder.build().map_err(|e| QueryError::Usage(format!("cannot reach s3://{bucket}: {e}")))?;
    let url = url::Url::parse(&format!("s3://{bucket}")).map_err(|e| QueryError::Usage(e.to_string()))?;
    session.context().register_object_store(&url, Arc::new(store));
    Ok(())
}

fn date_of(micros: i64) -> String {
    let (y, m, d) = civil_from_days(micros.div_euclid(86_400_000_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// An instant: RFC 3339, a date (midnight UTC), or an age before `now` (`90m`, `24h`, `7d`, `2w`).
pub fn parse_instant(s: &str, now: i64) -> Result<i64> {
    if let Some(t) = crate::functions::parse_time(s) {
        return Ok(t);
    }
    parse_duration(s).map(|d| now - d).ok_or_else(|| {
        QueryError::Usage(format!(
            "{s:?} is not a time: use 2026-11-02, 2026-11-02T10:00:00Z or an age such as 24h or 7d"
        ))
    })
}
