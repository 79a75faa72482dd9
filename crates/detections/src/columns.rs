//! Arrow columns of the detection tables (`alerts`, `incidents`, `exceptions`, the facts an
//! exception sees), built from and read back into rows, in one place.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, TimestampMicrosecondType};

use crate::error::Result;

/// A text column, one value (or NULL) per row.
pub(crate) fn strings<T>(rows: &[T], f: impl Fn(&T) -> Option<String>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
    rows.iter().for_each(|r| b.append_option(f(r)));
    Arc::new(b.finish())
}

/// A list-of-text column.
pub(crate) fn lists<T, S: AsRef<str>>(rows: &[T], f: impl Fn(&T) -> Vec<S>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for r in rows {
        f(r).iter().for_each(|v| b.values().append_value(v.as_ref()));
        b.append(true);
    }
    Arc::new(b.finish())
}

/// A UTC timestamp column (microseconds).
pub(crate) fn times<T>(rows: &[T], f: impl Fn(&T) -> i64) -> ArrayRef {
    let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    rows.iter().for_each(|r| b.append_value(f(r)));
    Arc::new(b.finish())
}

/// An integer column.
pub(crate) fn ints<T>(rows: &[T], f: impl Fn(&T) -> i64) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(rows.len());
    rows.iter().for_each(|r| b.append_value(f(r)));
    Arc::new(b.finish())
}

/// Column `i` of `b` as text.
pub(crate) fn read_text(b: &RecordBatch, i: usize) -> Result<Vec<Option<String>>> {
    let c = arrow::compute::cast(b.column(i), &DataType::Utf8)?;
    Ok(c.as_string::<i32>().iter().map(|v| v.map(String::from)).collect())
}

/// Column `i` of `b`, a list of text, as lists (empty for NULL or a column that is not a list).
pub(crate) fn read_lists(b: &RecordBatch, i: usize) -> Result<Vec<Vec<String>>> {
    let Some(l) = b.column(i).as_list_opt::<i32>() else { return Ok(vec![vec![]; b.num_rows()]) };
    (0..l.len())
        .map(|r| {
            if l.is_null(r) {
                return Ok(vec![]);
            }
            let v = arrow::compute::cast(&l.value(r), &DataType::Utf8)?;
            Ok(v.as_string::<i32>().iter().flatten().map(String::from).collect())
        })
        .collect()
}

/// Column `i` of `b` as microseconds since the epoch (`None` for NULL).
pub(crate) fn read_times(b: &RecordBatch, i: usize) -> Result<Vec<Option<i64>>> {
    let c = arrow::compute::cast(b.column(i), &lake::schema::timestamp_type())?;
    let c = c.as_primitive::<TimestampMicrosecondType>();
    Ok((0..c.len()).map(|r| c.is_valid(r).then(|| c.value(r))).collect())
}
