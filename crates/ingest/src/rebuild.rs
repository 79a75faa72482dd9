//! Rebuilds the original CloudTrail event (as JSON) from a `cloudtrail` row: the typed
//! columns, then the `unmapped` patch list over them. The inverse of [`crate::decode`];
//! it proves the lake is lossless and lets tools hand events back out in AWS's shape.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use serde_json::{Map, Value};

use lake::schema::{self, FieldSpec, Kind};
use lake::time::format_canonical;

/// Why a row could not be turned back into an event.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("column {0} is missing or has an unexpected type")]
    Column(&'static str),
    #[error("row {row}: column {column} holds invalid JSON: {source}")]
    Json { row: usize, column: &'static str, source: serde_json::Error },
    #[error("row {row}: unmapped patch {pointer:?} does not fit the event")]
    Patch { row: usize, pointer: String },
}

/// Rebuilds every row of a `cloudtrail` batch into its source event.
/// Readers may hand back other physical types (DataFusion reads strings as `Utf8View`):
/// columns are cast to the lake schema's types first.
pub fn rebuild_events(batch: &RecordBatch) -> Result<Vec<Value>, RebuildError> {
    let want = schema::cloudtrail_schema();
    let column = |name: &'static str| -> Result<ArrayRef, RebuildError> {
        let col = batch.column_by_name(name).ok_or(RebuildError::Column(name))?;
        let field = want.field_with_name(name).map_err(|_| RebuildError::Column(name))?;
        if col.data_type() == field.data_type() {
            Ok(col.clone())
        } else {
            arrow::compute::cast(col, field.data_type()).map_err(|_| RebuildError::Column(name))
        }
    };
    let owned: Vec<ArrayRef> = schema::EVENT.iter().map(|s| column(s.column)).collect::<Result<_, _>>()?;
    let columns: Vec<&dyn Array> = owned.iter().map(|c| c.as_ref()).collect();
    let unmapped_col = column(schema::UNMAPPED)?;
    let unmapped = unmapped_col.as_string_opt::<i32>().ok_or(RebuildError::Column(schema::UNMAPPED))?;
    (0..batch.num_rows())
        .map(|row| {
            let mut event = Value::Object(object(schema::EVENT, &columns, row)?);
            if unmapped.is_valid(row) {
                apply_patches(&mut event, unmapped.value(row), row)?;
            }
            Ok(event)
        })
        .collect()
}

fn object(specs: &'static [FieldSpec], columns: &[&dyn Array], row: usize) -> Result<Map<String, Value>, RebuildError> {
    let mut map = Map::new();
    for (spec, col) in specs.iter().zip(columns) {
        if col.is_null(row) {
            continue;
        }
        map.insert(spec.json.to_string(), value(spec, *col, row)?);
    }
    Ok(map)
}

fn value(spec: &'static FieldSpec, col: &dyn Array, row: usize) -> Result<Value, RebuildError> {
    let bad = || RebuildError::Column(spec.column);
    Ok(match spec.kind {
        Kind::Str => Value::String(col.as_any().downcast_ref::<StringArray>().ok_or_else(bad)?.value(row).to_string()),
        Kind::Json => {
            let text = col.as_any().downcast_ref::<StringArray>().ok_or_else(bad)?.value(row);
            serde_json::from_str(text).map_err(|source| RebuildError::Json { row, column: spec.column, source })?
        }
        Kind::Bool => Value::Bool(col.as_any().downcast_ref::<BooleanArray>().ok_or_else(bad)?.value(row)),
        Kind::Time => Value::String(format_canonical(
            col.as_any().downcast_ref::<TimestampMicrosecondArray>().ok_or_else(bad)?.value(row),
        )),
        Kind::Struct(children) => {
            let s = col.as_any().downcast_ref::<StructArray>().ok_or_else(bad)?;
            let cols: Vec<&dyn Array> = s.columns().iter().map(|c| c.as_ref()).collect();
            Value::Object(object(children, &cols, row)?)
        }
        Kind::ListOfStruct(children) => {
            let l = col.as_any().downcast_ref::<ListArray>().ok_or_else(bad)?;
            let items = l.value(row);
            let s = items.as_any().downcast_ref::<StructArray>().ok_or_else(bad)?;
            let cols: Vec<&dyn Array> = s.columns().iter().map(|c| c.as_ref()).collect();
            (0..s.len())
                .map(|i| if s.is_null(i) { Ok(Value::Null) } else { object(children, &cols, i).map(Value::Object) })
                .collect::<Result<Vec<_>, _>>()?
                .into()
        }
    })
}

fn apply_patches(event: &mut Value, patches: &str, row: usize) -> Result<(), RebuildError> {
    let list: Vec<(String, Value)> =
        serde_json::from_str(patches).map_err(|source| RebuildError::Json { row, column: schema::UNMAPPED, source })?;
    for (pointer, v) in list {
        if !set_pointer(event, &pointer, v) {
            return Err(RebuildError::Patch { row, pointer });
        }
    }
    Ok(())
}

/// Sets the value at a JSON pointer, creating the last key if missing.
fn set_pointer(root: &mut Value, pointer: &str, v: Value) -> bool {
    if pointer.is_empty() {
        *root = v;
        return true;
    }
    let Some(rest) = pointer.strip_prefix('/') else { return false };
    let segments: Vec<String> = rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect();
    let (last, parents) = segments.split_last().expect("split of a non-empty path");
    let mut cur = root;
    for seg in parents {
        cur = match cur {
            Value::Object(m) => match m.get_mut(seg.as_str()) {
                Some(c) => c,
                None => return false,
            },
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(c) => c,
                None => return false,
            },
            _ => return false,
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), v);
            true
        }
        Value::Array(a) => match last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = v;
                true
            }
            None => false,
        },
        _ => false,
    }
}
