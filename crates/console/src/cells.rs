//! Query results as JSON for the UI: columns with a coarse type, rows as arrays of cells
//! (numbers as numbers, booleans as booleans, timestamps as RFC 3339 text, lists and
//! structs as their JSON text), plus small helpers for the fixed queries' answers.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiResult;

/// A result column: its name and a coarse type (`string`, `integer`, `float`, `boolean`,
/// `timestamp`, `date`, `list`, `struct`, `other`).
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A result: its columns and rows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// The coarse type the UI reads (a chart needs a time and a number).
pub fn kind(t: &DataType) -> &'static str {
    use DataType::*;
    match t {
        Utf8 | LargeUtf8 | Utf8View => "string",
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "integer",
        Float16 | Float32 | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => "float",
        Boolean => "boolean",
        Timestamp(..) => "timestamp",
        Date32 | Date64 => "date",
        List(_) | LargeList(_) | FixedSizeList(..) | ListView(_) | LargeListView(_) => "list",
        Struct(_) | Map(..) => "struct",
        Dictionary(_, v) => kind(v),
        _ => "other",
    }
}

pub fn columns(schema: &Schema) -> Vec<Column> {
    schema.fields().iter().map(|f| Column { name: f.name().clone(), kind: kind(f.data_type()) }).collect()
}

/// Every row of `batches`.
pub fn table(schema: &Schema, batches: &[RecordBatch]) -> ApiResult<Table> {
    let mut rows = Vec::new();
    for b in batches {
        append_rows(b, &mut rows)?;
    }
    Ok(Table { columns: columns(schema), rows })
}

/// Appends the rows of `batch` as arrays of cells.
pub fn append_rows(batch: &RecordBatch, rows: &mut Vec<Vec<Value>>) -> ApiResult<()> {
    let columns: Vec<Vec<Value>> = batch.columns().iter().map(cells).collect::<ApiResult<_>>()?;
    for r in 0..batch.num_rows() {
        rows.push(columns.iter().map(|c| c[r].clone()).collect());
    }
    Ok(())
}

/// One column's cells.
fn cells(array: &ArrayRef) -> ApiResult<Vec<Value>> {
    let n = array.len();
    let null_or = |i: usize, v: Value| if array.is_null(i) { Value::Null } else { v };
    Ok(match kind(array.data_type()) {
        "integer" => {
            let a = cast(array, &DataType::Int64)?;
            let a = a.as_primitive::<Int64Type>();
            (0..n).map(|i| null_or(i, Value::from(a.value(i)))).collect()
        }
        "float" => {
            let a = cast(array, &DataType::Float64)?;
            let a = a.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| null_or(i, serde_json::Number::from_f64(a.value(i)).map_or(Value::Null, Value::Number)))
                .collect()
        }
        "boolean" => {
            let a = cast(array, &DataType::Boolean)?;
            let a = a.as_boolean();
            (0..n).map(|i| null_or(i, Value::Bool(a.value(i)))).collect()
        }
        "list" | "struct" => json_texts(array)?.into_iter().map(|t| t.map_or(Value::Null, Value::String)).collect(),
        _ => {
            let f = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
            (0..n).map(|i| null_or(i, Value::String(f.value(i).to_string()))).collect()
        }
    })
}

/// Nested values as JSON text, one per row (`None` for null).
fn json_texts(array: &ArrayRef) -> ApiResult<Vec<Option<String>>> {
    let batch = RecordBatch::try_from_iter([("v", array.clone())])?;
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(&batch)?;
    writer.finish()?;
    let text = writer.into_inner();
    let mut out = Vec::with_capacity(array.len());
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut v: serde_json::Map<String, Value> = serde_json::from_slice(line).unwrap_or_default();
        out.push(v.remove("v").map(|v| v.to_string()));
    }
    out.resize(array.len(), None);
    Ok(out)
}

/// A column of a fixed query's answer as text (empty for null).
pub fn strings(batches: &[RecordBatch], column: usize) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for v in cells(b.column(column))? {
            out.push(match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            });
        }
    }
    Ok(out)
}

/// A column of a fixed query's answer as integers (0 for null).
pub fn integers(batches: &[RecordBatch], column: usize) -> ApiResult<Vec<i64>> {
    let mut out = Vec::new();
    for b in batches {
        out.extend(cells(b.column(column))?.iter().map(|v| v.as_i64().unwrap_or(0)));
    }
    Ok(out)
}

/// `{"value", "events"}`: the rows of a `SELECT value, count(*)` query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Count {
    pub value: String,
    pub events: i64,
}

pub fn counts(batches: &[RecordBatch]) -> ApiResult<Vec<Count>> {
    let values = strings(batches, 0)?;
    let events = integers(batches, 1)?;
    Ok(values.into_iter().zip(events).map(|(value, events)| Count { value, events }).collect())
}

/// A text value for a SQL string literal (quotes doubled).
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray};

    use super::*;

    #[test]
    fn cells_keep_numbers_as_numbers_timestamps_as_rfc3339_and_lists_as_json_text() {
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value("a");
        list.append(true);
        list.append(false);
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int32Array::from(vec![Some(7), None])) as ArrayRef),
            ("s", Arc::new(StringArray::from(vec![Some("x"), Some("it's")]))),
            ("t", Arc::new(TimestampMicrosecondArray::from(vec![1_700_000_000_000_000, 0]).with_timezone("UTC"))),
            ("l", Arc::new(list.finish())),
        ])
        .unwrap();
        let t = table(&batch.schema(), &[batch]).unwrap();
        let kinds: Vec<_> = t.columns.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, ["integer", "string", "timestamp", "list"]);
        assert_eq!(
            t.rows[0],
            vec![Value::from(7), Value::from("x"), Value::from("2023-11-14T22:13:20Z"), Value::from("[\"a\"]")]
        );
        assert_eq!(t.rows[1][0], Value::Null);
        assert_eq!(t.rows[1][3], Value::Null);
        assert_eq!(quote("it's"), "'it''s'");
    }
}
