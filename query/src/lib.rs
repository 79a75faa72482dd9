//! trailhouse-query: DataFusion SQL over the trailhouse lake.
//!
//! Registers the lake's Delta tables (`cloudtrail`, `ingested_files`) in a DataFusion
//! session through delta-rs's table provider, so partition pruning and file statistics
//! apply. It does not write to the lake (that is `trailhouse-ingest`).
//!
//! ```no_run
//! # async fn f() -> Result<(), query::QueryError> {
//! let session = query::LakeSession::open("./lake", &Default::default()).await?;
//! let batches = session.sql("SELECT eventname, count(*) FROM cloudtrail GROUP BY 1").await?;
//! println!("{}", query::pretty(&batches)?);
//! # Ok(()) }
//! ```

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use ingest::lake::{CLOUDTRAIL_TABLE, LEDGER_TABLE, Lake, LakeOptions};

/// Errors from querying the lake.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Lake(#[from] ingest::IngestError),
    #[error("table {table}: {source}")]
    Table { table: &'static str, source: Box<deltalake::DeltaTableError> },
    #[error("{0}")]
    Sql(#[from] datafusion::error::DataFusionError),
    #[error("cannot format the result: {0}")]
    Format(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// A DataFusion session with the lake's tables registered.
pub struct LakeSession {
    ctx: SessionContext,
    lake: Lake,
}

impl LakeSession {
    /// Opens the lake at `location` (it must exist) and registers its tables.
    pub async fn open(location: &str, options: &LakeOptions) -> Result<Self> {
        let lake = Lake::open_existing(location, options).await?;
        let ctx = SessionContext::new();
        for name in [CLOUDTRAIL_TABLE, LEDGER_TABLE] {
            let table = lake.table(name).await?;
            table
                .update_datafusion_session(&ctx.state())
                .map_err(|e| QueryError::Table { table: name, source: Box::new(e) })?;
            let provider = table.table_provider().await?;
            ctx.register_table(name, provider)?;
        }
        Ok(LakeSession { ctx, lake })
    }

    /// The DataFusion context, for callers that register more.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Runs one statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }
}

/// Formats batches as a text table.
pub fn pretty(batches: &[RecordBatch]) -> Result<String> {
    Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string())
}
