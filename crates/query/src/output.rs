//! Result formats: a text table for people, CSV / JSON / NDJSON / Parquet for tools. Every
//! format streams: rows are written batch by batch as the query produces them, so a
//! query over the whole lake never holds its result in memory, and `... | head` stops it.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{QueryError, Result};

/// How to print a result. The doc comments of the variants are the command line's
/// help for each value (`clap::ValueEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A text table, printed in chunks of rows so a large result streams.
    Table,
    /// CSV with a header; nested columns as JSON text.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Zstd Parquet (to a file or a pipe).
    Parquet,
}

/// A table is printed in chunks of this many rows so a huge result streams.
pub const TABLE_CHUNK_ROWS: usize = 1000;

impl std::str::FromStr for Format {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Format> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            other => {
                return Err(QueryError::Usage(format!(
                    "unknown format {other:?}: use table, csv, json, ndjson or parquet"
                )));
            }
        })
    }
}

/// Writes the rows of `stream` to `out` in `format`; returns the number of rows.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    out: impl Write + Send,
) -> Result<u64> {
    let schema = stream.schema();
    let mut sink = Sink::new(format, schema, out)?;
    while let Some(batch) = stream.next().await {
        sink.write(&batch.map_err(QueryError::DataFusion)?)?;
    }
    sink.finish()
}

/// Writes already collected batches (e.g. a REPL result) to `out`.
pub fn write_batches(
    schema: SchemaRef,
    batches: &[RecordBatch],
    format: Format,
    out: impl Write + Send,
) -> Result<u64> {
    let mut sink = Sink::new(format, schema, out)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish()
}

enum Writer<W: Write + Send> {
    Table { out: W, pending: Vec<RecordBatch>, rows: usize, printed: bool },
    Csv(arrow::csv::Writer<W>),
    Json(arrow::json::ArrayWriter<W>),
    Ndjson(arrow::json::LineDelimitedWriter<W>),
    Parquet(ArrowWriter<W>),
}

/// A result being written.
struct Sink<W: Write + Send> {
    schema: SchemaRef,
    writer: Writer<W>,
    rows: u64,
}

fn io(context: &str) -> impl Fn(std::io::Error) -> QueryError + '_ {
    move |cause| QueryError::Io { context: context.to_string(), cause }
}

impl<W: Write + Send> Sink<W> {
    fn new(format: Format, schema: SchemaRef, out: W) -> Result<Self> {
        let writer = match format {
            Format::Table => Writer::Table { out, pending: Vec::new(), rows: 0, printed: false },
            Format::Csv => Writer::Csv(arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            // Explicit nulls: every row carries every column, as tools reading the rows expect.
            Format::Json => Writer::Json(arrow::json::WriterBuilder::new().with_explicit_nulls(true).build(out)),
            Format::Ndjson => Writer::Ndjson(arrow::json::WriterBuilder::new().with_explicit_nulls(true).build(out)),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
                    .build();
                Writer::Parquet(ArrowWriter::try_new(out, schema.clone(), Some(props))?)
            }
        };
        Ok(Sink { schema, writer, rows: 0 })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        match &mut self.writer {
            Writer::Table { out, pending, rows, printed } => {
                *rows += batch.num_rows();
                pending.push(batch.clone());
                if *rows >= TABLE_CHUNK_ROWS {
                    print_table(out, pending)?;
                    *rows = 0;
                    *printed = true;
                }
            }
            Writer::Csv(w) => w.write(&flatten_for_text(batch, true)?)?,
            Writer::Json(w) => w.write(&flatten_for_text(batch, false)?)?,
            Writer::Ndjson(w) => {
                w.write(&flatten_for_text(batch, false)?)?;
            }
            Writer::Parquet(w) => w.write(batch)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<u64> {
        match self.writer {
            Writer::Table { mut out, mut pending, printed, .. } => {
                if !pending.is_empty() || !printed {
                    if pending.iter().all(|b| b.num_rows() == 0) {
                        pending = vec![RecordBatch::new_empty(self.schema.clone())];
                    }
                    print_table(&mut out, &mut pending)?;
                }
                out.flush().map_err(io("writing the result"))?;
            }
            Writer::Csv(w) => w.into_inner().flush().map_err(io("writing the result"))?,
            Writer::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush().map_err(io("writing the result"))?;
            }
            Writer::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner().flush().map_err(io("writing the result"))?;
            }
            Writer::Parquet(w) => {
                let mut out = w.into_inner()?;
                out.flush().map_err(io("writing the result"))?;
            }
        }
        Ok(self.rows)
    }
}

fn print_table(out: &mut impl Write, pending: &mut Vec<RecordBatch>) -> Result<()> {
    let text = arrow::util::pretty::pretty_format_batches(pending)?;
    writeln!(out, "{text}").map_err(io("writing the result"))?;
    out.flush().map_err(io("writing the result"))?;
    pending.clear();
    Ok(())
}

/// Prepares a batch for the text writers: view and dictionary strings become plain
/// strings, and for CSV (`nested_as_json`) structs and lists become JSON text.
fn flatten_for_text(batch: &RecordBatch, nested_as_json: bool) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let (field, col) = match c.data_type() {
            DataType::Utf8View | DataType::Dictionary(..) if is_stringish(c.data_type()) => {
                (Field::new(f.name(), DataType::Utf8, true), cast(c, &DataType::Utf8)?)
            }
            DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_) | DataType::Map(..) if nested_as_json => {
                (Field::new(f.name(), DataType::Utf8, true), nested_to_json(c)?)
            }
            _ => (f.as_ref().clone(), c.clone()),
        };
        fields.push(field);
        columns.push(col);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn is_stringish(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => true,
        DataType::Dictionary(_, v) => is_stringish(v),
        _ => false,
    }
}

/// Each value of a nested array as JSON text (null stays null).
fn nested_to_json(a: &ArrayRef) -> Result<ArrayRef> {
    // Write the column as NDJSON objects {"v": ...} and keep each line's value part.
    let one = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("v", a.data_type().clone(), true)])),
        vec![a.clone()],
    )?;
    let one = flatten_for_text(&one, false)?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(&one)?;
        w.finish()?;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut out = StringBuilder::with_capacity(a.len(), buf.len());
    for (i, line) in text.lines().enumerate() {
        if a.is_null(i) {
            out.append_null();
        } else {
            out.append_option(line.strip_prefix("{\"v\":").and_then(|l| l.strip_suffix('}')));
        }
    }
    Ok(Arc::new(out.finish()))
}
