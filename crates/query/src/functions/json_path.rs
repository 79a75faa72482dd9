//! Athena/Trino JSON functions over JSON text: `json_extract_scalar`, `json_extract`,
//! `json_array_length`. Paths are the JSONPath subset Athena documents: `$`, `.key`,
//! `["key"]` / `['key']`, `[index]`. The text is walked lazily with jiter (no DOM).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::ScalarUDF;
use jiter::{Jiter, Peek};

use super::{Udf, strings};

pub fn json_extract_scalar() -> ScalarUDF {
    Udf::strings("json_extract_scalar", 2, DataType::Utf8, |args| {
        extract(args, |jiter, peek| {
            Some(match peek {
                Peek::String => jiter.known_str().ok()?.to_owned(),
                Peek::True => "true".to_owned(),
                Peek::False => "false".to_owned(),
                p if p.is_num() => String::from_utf8_lossy(jiter.known_number_bytes(p).ok()?).into_owned(),
                _ => return None,
            })
        })
    })
}

pub fn json_extract() -> ScalarUDF {
    Udf::strings("json_extract", 2, DataType::Utf8, |args| {
        extract(args, |jiter, peek| {
            if peek == Peek::Null {
                return Some("null".to_owned());
            }
            let start = jiter.current_index();
            jiter.known_skip(peek).ok()?;
            Some(String::from_utf8_lossy(jiter.slice_to_current(start)).into_owned())
        })
    })
}

pub fn json_array_length() -> ScalarUDF {
    Udf::strings("json_array_length", 1, DataType::Int64, |args| {
        let mut out = Int64Builder::with_capacity(args[0].len());
        for json in strings(&args[0])? {
            out.append_option(json.and_then(array_length));
        }
        Ok(Arc::new(out.finish()))
    })
}

fn array_length(json: &str) -> Option<i64> {
    let mut jiter = Jiter::new(json.as_bytes());
    if jiter.peek().ok()? != Peek::Array {
        return None;
    }
    let mut n = 0;
    let mut item = jiter.known_array().ok()?;
    while let Some(peek) = item {
        n += 1;
        jiter.known_skip(peek).ok()?;
        item = jiter.array_step().ok()?;
    }
    Some(n)
}

/// Applies `render` to the value at each row's path.
fn extract(args: &[ArrayRef], render: impl Fn(&mut Jiter, Peek) -> Option<String>) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(args[0].len(), 0);
    let mut cached: Option<(String, Vec<Step>)> = None;
    for (json, path) in strings(&args[0])?.zip(strings(&args[1])?) {
        let (Some(json), Some(path)) = (json, path) else {
            out.append_null();
            continue;
        };
        if cached.as_ref().is_none_or(|(text, _)| text != path) {
            cached = Some((path.to_owned(), parse_path(path)?));
        }
        let steps = cached.as_ref().map(|(_, s)| s.as_slice()).unwrap_or_default();
        let mut jiter = Jiter::new(json.as_bytes());
        let value = find(&mut jiter, steps).and_then(|peek| render(&mut jiter, peek));
        out.append_option(value);
    }
    Ok(Arc::new(out.finish()))
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Parses Athena's JSONPath subset.
pub(crate) fn parse_path(path: &str) -> Result<Vec<Step>> {
    let bad = |why: &str| exec_err!("invalid JSON path {path:?}: {why} (use e.g. '$.a.b[0]' or '$[\"key\"]')");
    let Some(mut rest) = path.trim().strip_prefix('$') else {
        return bad("it must start with $");
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() || key == "*" {
                return bad("empty key or wildcard");
            }
            steps.push(Step::Key(key.to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return bad("unclosed [") };
            let inner = r[..end].trim();
            let quoted = inner
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
            match (quoted, inner.parse::<usize>()) {
                (Some(key), _) => steps.push(Step::Key(key.to_owned())),
                (None, Ok(i)) => steps.push(Step::Index(i)),
                _ => return bad("subscripts are a quoted key or an index"),
            }
            rest = &r[end + 1..];
        } else {
            return bad("expected . or [");
        }
    }
    Ok(steps)
}

/// Walks `jiter` to the value at `steps`; returns its kind, positioned at its start.
fn find(jiter: &mut Jiter, steps: &[Step]) -> Option<Peek> {
    let mut peek = jiter.peek().ok()?;
    for step in steps {
        match (step, peek) {
            (Step::Key(key), Peek::Object) => {
                let mut k = jiter.known_object().ok()??;
                while k != key {
                    jiter.next_skip().ok()?;
                    k = jiter.next_key().ok()??;
                }
                peek = jiter.peek().ok()?;
            }
            (Step::Index(i), Peek::Array) => {
                let mut item = jiter.known_array().ok()??;
                for _ in 0..*i {
                    jiter.known_skip(item).ok()?;
                    item = jiter.array_step().ok()??;
                }
                peek = item;
            }
            _ => return None,
        }
    }
    Some(peek)
}
