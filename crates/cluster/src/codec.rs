//! How the lake's tables travel in a plan from the client to the scheduler.
//!
//! Ballista ships a query's logical plan to its scheduler, which plans it physically; a
//! table that is not one of DataFusion's own listing tables travels through a
//! [`LogicalExtensionCodec`]. [`LakeCodec`] carries:
//! - a lake table ([`lake::LakeTable`], read by the client from the Delta log) as the list
//!   of its files ([`lake::ShippedScan`]): the scheduler plans DataFusion's Parquet scan over
//!   them and never reads the Delta log (delta-rs's own scan node cannot be serialised);
//! - a small in-memory table (a detection run's new rows, an empty stand-in) as Arrow IPC.
//!
//! Everything else goes to Ballista's own codec.

use std::io::Cursor;
use std::sync::Arc;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use lake::{LakeTable, ShippedScan};

const SHIPPED: u8 = 1;
const MEMORY: u8 = 2;

/// Ballista's logical codec, plus the lake's tables and in-memory tables.
#[derive(Debug, Default)]
pub struct LakeCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LakeCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.split_first() {
            Some((&SHIPPED, rest)) => Ok(Arc::new(ShippedScan::from_bytes(rest, schema)?)),
            Some((&MEMORY, mut rest)) => {
                // Each partition: its length (u64, little-endian), then an Arrow IPC stream.
                let mut partitions = vec![];
                while let Some((len, tail)) = rest.split_first_chunk::<8>() {
                    let len = usize::try_from(u64::from_le_bytes(*len)).unwrap_or(usize::MAX);
                    let (stream, tail) = tail.split_at_checked(len).ok_or_else(|| {
                        DataFusionError::Internal(format!("an in-memory table for {table_ref} is cut short"))
                    })?;
                    let reader = StreamReader::try_new(Cursor::new(stream), None)?;
                    partitions.push(reader.collect::<std::result::Result<Vec<RecordBatch>, _>>()?);
                    rest = tail;
                }
                Ok(Arc::new(MemTable::try_new(schema, partitions)?))
            }
            _ => self.inner.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(t) = node.downcast_ref::<LakeTable>() {
            buf.push(SHIPPED);
            buf.extend(t.shipped().to_bytes()?);
            return Ok(());
        }
        if let Some(t) = node.downcast_ref::<ShippedScan>() {
            buf.push(SHIPPED);
            buf.extend(t.to_bytes()?);
            return Ok(());
        }
        if let Some(t) = node.downcast_ref::<MemTable>() {
            buf.push(MEMORY);
            for partition in &t.batches {
                let batches = partition.try_read().map_err(|e| DataFusionError::Execution(e.to_string()))?;
                let mut stream = vec![];
                let mut w = StreamWriter::try_new(&mut stream, &t.schema())?;
                for b in batches.iter() {
                    w.write(b)?;
                }
                w.finish()?;
                drop(w);
                buf.extend((stream.len() as u64).to_le_bytes());
                buf.extend(stream);
            }
            return Ok(());
        }
        self.inner.try_encode_table_provider(table_ref, node, buf).map_err(|e| {
            DataFusionError::NotImplemented(format!(
                "table {table_ref} cannot run on a cluster (only the lake's tables and in-memory tables travel): {e}"
            ))
        })
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A detection run's new rows travel to the scheduler as an in-memory table: every
    /// partition and row arrives, and a cut-short buffer is an error, not fewer rows.
    #[tokio::test]
    async fn an_in_memory_table_travels_whole_and_a_cut_buffer_is_refused() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("eventid", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = |ids: &[&str], n: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(ids.to_vec())), Arc::new(Int64Array::from(vec![n; ids.len()]))],
            )
            .unwrap()
        };
        let table =
            MemTable::try_new(schema.clone(), vec![vec![batch(&["a", "b"], 1)], vec![batch(&["c"], 2)]]).unwrap();
        let codec = LakeCodec::default();
        let mut buf = vec![];
        let name = TableReference::bare("events");
        codec.try_encode_table_provider(&name, Arc::new(table), &mut buf).unwrap();
        let ctx = SessionContext::new();
        let decoded = codec.try_decode_table_provider(&buf, &name, schema.clone(), &ctx.task_ctx()).unwrap();
        ctx.register_table("events", decoded).unwrap();
        let rows = ctx.sql("SELECT count(*), sum(n) FROM events").await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string();
        assert!(text.contains("| 3 ") && text.contains("| 4 "), "{text}");

        let cut = &buf[..buf.len() - 10];
        let err = codec.try_decode_table_provider(cut, &name, schema, &ctx.task_ctx()).unwrap_err().to_string();
        assert!(err.contains("cut short"), "{err}");
    }
}
