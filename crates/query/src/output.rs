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
    /// Each row as one line per column (`-[ RECORD 1 ]-`), for wide rows.
    Vertical,
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
            "vertical" => Format::Vertical,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            "parquet" => Format::Parquet,
            other => {
                return Err(QueryError::Usage(format!(
                    "unknown format {other:?}: use table, vertical, csv, json, ndjson or parquet"
                )));
            }
        })
    }
}

/// Writes the rows of `stream` to `out` in `format`; returns the number of rows.
pub async fn write_stream(stream: SendableRecordBatchStream, format: Format, out: impl Write + Send) -> Result<u64> {
    write_stream_within(stream, format, None, out).await
}

/// [`write_stream`], with a table wider than `width` columns printed [`Format::Vertical`]
/// instead (the prompt's `\x auto`).
pub async fn write_stream_within(
    mut stream: SendableRecordBatchStream,
    format: Format,
    width: Option<usize>,
    out: impl Write + Send,
) -> Result<u64> {
    let schema = stream.schema();
    let mut sink = Sink::new(format, schema, out)?;
    if let Writer::Table { within, .. } = &mut sink.writer {
        *within = width;
    }
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
    /// `within`: a chunk wider than this is printed vertically; `records`: rows printed.
    Table {
        out: W,
        pending: Vec<RecordBatch>,
        rows: usize,
        printed: bool,
        within: Option<usize>,
        records: usize,
    },
    Vertical {
        out: W,
        records: usize,
    },
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
            Format::Table => {
                Writer::Table { out, pending: Vec::new(), rows: 0, printed: false, within: None, records: 0 }
            }
            Format::Vertical => Writer::Vertical { out, records: 0 },
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
            Writer::Table { out, pending, rows, printed, within, records } => {
                *rows += batch.num_rows();
                pending.push(batch.clone());
                if *rows >= TABLE_CHUNK_ROWS {
                    print_table(out, pending, *within, records)?;
                    *rows = 0;
                    *printed = true;
                }
            }
            Writer::Vertical { out, records } => print_vertical(out, batch, records)?,
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
            Writer::Table { mut out, mut pending, printed, within, mut records, .. } => {
                if !pending.is_empty() || !printed {
                    if pending.iter().all(|b| b.num_rows() == 0) {
                        pending = vec![RecordBatch::new_empty(self.schema.clone())];
                    }
                    print_table(&mut out, &mut pending, within, &mut records)?;
                }
                out.flush().map_err(io("writing the result"))?;
            }
            Writer::Vertical { mut out, records } => {
                if records == 0 {
                    writeln!(out, "(0 rows)").map_err(io("writing the result"))?;
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

fn print_table(
    out: &mut impl Write,
    pending: &mut Vec<RecordBatch>,
    within: Option<usize>,
    records: &mut usize,
) -> Result<()> {
    let text = arrow::util::pretty::pretty_format_batches(pending)?.to_string();
    let too_wide = within.is_some_and(|w| text.lines().any(|l| l.chars().count() > w));
    if too_wide && pending.iter().any(|b| b.num_rows() > 0) {
        for b in pending.iter() {
            print_vertical(out, b, records)?;
        }
    } else {
        writeln!(out, "{text}").map_err(io("writing the result"))?;
        *records += pending.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    out.flush().map_err(io("writing the result"))?;
    pending.clear();
    Ok(())
}

/// Each row of `batch` as `-[ RECORD n ]-` and a `name | value` line per column; `records`
/// counts the rows printed so far.
fn print_vertical(out: &mut impl Write, batch: &RecordBatch, records: &mut usize) -> Result<()> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let schema = batch.schema();
    let width = schema.fields().iter().map(|f| f.name().chars().count()).max().unwrap_or(0);
    let options = FormatOptions::default().with_null("NULL");
    let columns: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<_, _>>()?;
    for row in 0..batch.num_rows() {
        *records += 1;
        writeln!(out, "-[ RECORD {records} ]{}", "-".repeat(width.saturating_sub(8) + 4))
            .map_err(io("writing the result"))?;
        for (field, column) in schema.fields().iter().zip(&columns) {
            writeln!(out, "{:<width$} | {}", field.name(), column.value(row)).map_err(io("writing the result"))?;
        }
    }
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
