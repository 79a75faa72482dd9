//! Reading a table of the lake at one version.

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::datafusion::prelude::SessionContext;

use crate::{LakeError, Result};

/// Runs `sql` over one loaded table (registered as `t`) and collects the result: for the
/// lake's own small reads (the ledger, watermarks) and for tests.
pub async fn read_table(table: &DeltaTable, sql: &str) -> Result<Vec<RecordBatch>> {
    let location = table.table_url().to_string();
    let df_err = |e: deltalake::datafusion::error::DataFusionError| LakeError::state(&location, e.to_string());
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| LakeError::Delta { location: location.clone(), cause: Box::new(e) })?;
    ctx.register_table("t", std::sync::Arc::new(crate::LakeTable::try_new(table)?)).map_err(df_err)?;
    ctx.sql(sql).await.map_err(df_err)?.collect().await.map_err(df_err)
}
