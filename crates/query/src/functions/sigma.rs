//! Sigma's matching semantics as SQL functions, for rules compiled from Sigma (and for
//! anyone who wants them in SQL):
//!
//! - `sigma_match(json, 'a.b.c', op, arg)`: true when any value found at the dotted path
//!   inside a JSON text column matches; the path goes through objects (keys as CloudTrail
//!   spells them, or any case) and arrays (every element). `op` is `eq` (`arg` a Sigma
//!   pattern: `*` and `?` wildcards, `\` escapes, case-insensitive), `cased` (the same,
//!   case-sensitive), `re` (a regular expression), `cidr`, `exists` or `null` (the path is
//!   missing or holds null). An empty path is the whole document, as text.
//! - `sigma_value(json, 'a.b')`: the first scalar at the path, as text (Sigma's `fieldref`).
//! - `sigma_like(text, pattern)`: a Sigma pattern against text, case-insensitive.
//!
//! None of them returns null: a missing value does not match (Sigma's logic is two-valued:
//! `not` over a missing field is true).

use std::sync::Arc;

use arrow::array::{BooleanBuilder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::logical_expr::ScalarUDF;
use serde_json::Value;

use super::ip::{Cidr, parse_ip};
use super::{Udf, strings};

pub fn sigma_match() -> ScalarUDF {
    Udf::strings("sigma_match", 4, DataType::Boolean, |args| {
        let n = args[0].len();
        let mut out = BooleanBuilder::with_capacity(n);
        let mut matcher: Option<(String, String, Matcher)> = None;
        let it = strings(&args[0])?.zip(strings(&args[1])?).zip(strings(&args[2])?).zip(strings(&args[3])?);
        for (((json, path), op), arg) in it {
            let (op, arg) = (op.unwrap_or("eq"), arg.unwrap_or(""));
            if matcher.as_ref().is_none_or(|(o, a, _)| o != op || a != arg) {
                matcher = Some((op.to_string(), arg.to_string(), Matcher::new(op, arg)?));
            }
            let m = &matcher.as_ref().expect("just set").2;
            let found = json.and_then(|j| serde_json::from_str::<Value>(j).ok().map(|v| (j, v)));
            let mut leaves = Vec::new();
            if let Some((text, doc)) = &found {
                let path = path.unwrap_or("");
                if let Some(pointer) = path.strip_prefix('@') {
                    unmapped(doc, pointer, &mut leaves);
                } else if path.is_empty() {
                    leaves.push(Leaf::Text((*text).to_string()));
                } else {
                    let segments: Vec<&str> = path.split('.').collect();
                    collect(doc, &segments, &mut leaves);
                }
            }
            out.append_value(m.matches(&leaves));
        }
        Ok(Arc::new(out.finish()))
    })
}

pub fn sigma_value() -> ScalarUDF {
    Udf::strings("sigma_value", 2, DataType::Utf8, |args| {
        let mut out = StringBuilder::with_capacity(args[0].len(), 0);
        for (json, path) in strings(&args[0])?.zip(strings(&args[1])?) {
            let doc = json.and_then(|j| serde_json::from_str::<Value>(j).ok());
            let mut leaves = Vec::new();
            if let Some(doc) = &doc {
                collect(doc, &path.unwrap_or("").split('.').filter(|s| !s.is_empty()).collect::<Vec<_>>(), &mut leaves);
            }
            out.append_option(leaves.into_iter().find_map(|l| match l {
                Leaf::Text(t) => Some(t),
                Leaf::Null => None,
            }));
        }
        Ok(Arc::new(out.finish()))
    })
}

pub fn sigma_like() -> ScalarUDF {
    Udf::strings("sigma_like", 2, DataType::Boolean, |args| {
        let mut out = BooleanBuilder::with_capacity(args[0].len());
        let mut cached: Option<(String, Pattern)> = None;
        for (text, pattern) in strings(&args[0])?.zip(strings(&args[1])?) {
            let pattern = pattern.unwrap_or("");
            if cached.as_ref().is_none_or(|(p, _)| p != pattern) {
                cached = Some((pattern.to_string(), Pattern::new(pattern, false)));
            }
            let p = &cached.as_ref().expect("just set").1;
            out.append_value(text.is_some_and(|t| p.matches(t)));
        }
        Ok(Arc::new(out.finish()))
    })
}

/// A value found at a path: a scalar as text (objects and arrays as their JSON), or null.
enum Leaf {
    Text(String),
    Null,
}

/// The values at a JSON pointer in the decoder's `unmapped` list (`[[pointer, value], ...]`):
/// an entry at the pointer, or one above it that holds it.
fn unmapped(doc: &Value, pointer: &str, out: &mut Vec<Leaf>) {
    let Value::Array(entries) = doc else { return };
    let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
    for e in entries {
        let (Some(Value::String(p)), Some(v)) = (e.get(0), e.get(1)) else { continue };
        if p == pointer {
            collect(v, &[], out);
        } else if let Some(rest) = pointer.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('/')) {
            let segments: Vec<String> = rest.split('/').map(unescape).collect();
            collect(v, &segments.iter().map(String::as_str).collect::<Vec<_>>(), out);
        }
    }
}

/// The values at `path` below `v`, through arrays (every element).
fn collect(v: &Value, path: &[&str], out: &mut Vec<Leaf>) {
    match (v, path.split_first()) {
        (Value::Array(items), _) if !path.is_empty() => {
            for item in items {
                collect(item, path, out);
            }
        }
        (Value::Object(map), Some((key, rest))) => {
            let child = map.get(*key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v));
            if let Some(child) = child {
                collect(child, rest, out);
            }
        }
        (_, Some(_)) => {}
        (Value::Null, None) => out.push(Leaf::Null),
        (Value::String(s), None) => out.push(Leaf::Text(s.clone())),
        (Value::Array(items), None) => {
            // A list value matches when any element does (and as a whole, as JSON text).
            out.push(Leaf::Text(v.to_string()));
            for item in items {
                collect(item, &[], out);
            }
        }
        (other, None) => out.push(Leaf::Text(other.to_string())),
    }
}

enum Matcher {
    Pattern(Pattern),
    Regex(regex::Regex),
    Cidr(Cidr),
    Exists,
    Null,
}

impl Matcher {
    fn new(op: &str, arg: &str) -> datafusion::common::Result<Matcher> {
        Ok(match op {
            "eq" => Matcher::Pattern(Pattern::new(arg, false)),
            "cased" => Matcher::Pattern(Pattern::new(arg, true)),
            "re" => match regex::Regex::new(arg) {
                Ok(r) => Matcher::Regex(r),
                Err(e) => return exec_err!("sigma_match: {arg:?} is not a regular expression: {e}"),
            },
            "cidr" => match Cidr::parse(arg) {
                Some(c) => Matcher::Cidr(c),
                None => return exec_err!("sigma_match: {arg:?} is not a CIDR block"),
            },
            "exists" => Matcher::Exists,
            "null" => Matcher::Null,
            other => return exec_err!("sigma_match: unknown operation {other:?} (eq, cased, re, cidr, exists, null)"),
        })
    }

    fn matches(&self, leaves: &[Leaf]) -> bool {
        let texts = || leaves.iter().filter_map(|l| if let Leaf::Text(t) = l { Some(t.as_str()) } else { None });
        match self {
            Matcher::Pattern(p) => texts().any(|t| p.matches(t)),
            Matcher::Regex(r) => texts().any(|t| r.is_match(t)),
            Matcher::Cidr(c) => texts().any(|t| parse_ip(t).is_some_and(|ip| c.contains(ip))),
            Matcher::Exists => texts().next().is_some(),
            Matcher::Null => texts().next().is_none(),
        }
    }
}

/// A Sigma value pattern: `*` any run of characters, `?` one character, `\*` `\?` `\\`
/// literal (a backslash before anything else is itself).
pub(crate) struct Pattern {
    parts: Vec<Part>,
    cased: bool,
}

#[derive(Debug, PartialEq)]
enum Part {
    Literal(Vec<char>),
    One,
    Any,
}

impl Pattern {
    pub(crate) fn new(pattern: &str, cased: bool) -> Pattern {
        let fold = |c: char| if cased { c } else { c.to_lowercase().next().unwrap_or(c) };
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&n) if n == '*' || n == '?' || n == '\\' => {
                        lit.push(fold(n));
                        chars.next();
                    }
                    _ => lit.push('\\'),
                },
                '*' | '?' => {
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(if c == '*' { Part::Any } else { Part::One });
                }
                c => lit.push(fold(c)),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Pattern { parts, cased }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = if self.cased {
            text.chars().collect()
        } else {
            text.chars().map(|c| c.to_lowercase().next().unwrap_or(c)).collect()
        };
        matches_from(&self.parts, &text)
    }
}

/// Glob matching with backtracking over the last `*` (linear for one `*`, quadratic at worst).
fn matches_from(parts: &[Part], text: &[char]) -> bool {
    match parts.split_first() {
        None => text.is_empty(),
        Some((Part::Literal(l), rest)) => text.starts_with(l) && matches_from(rest, &text[l.len()..]),
        Some((Part::One, rest)) => !text.is_empty() && matches_from(rest, &text[1..]),
        Some((Part::Any, rest)) => (0..=text.len()).any(|i| matches_from(rest, &text[i..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_sigmas_wildcards_escapes_and_case() {
        let p = |s: &str| Pattern::new(s, false);
        assert!(p("ListBuckets").matches("listbuckets"));
        assert!(!p("ListBuckets").matches("ListBucketsX"));
        assert!(p("*Bucket*").matches("ListBuckets"));
        assert!(p("Get?bject").matches("GetObject"));
        assert!(!p("Get?bject").matches("Getbject"));
        assert!(p("a\\*b").matches("a*b") && !p("a\\*b").matches("axb"));
        assert!(p("c:\\windows").matches("C:\\Windows"));
        assert!(p("*").matches("") && p("*").matches("anything"));
        assert!(!Pattern::new("ListBuckets", true).matches("listbuckets"));
    }

    #[test]
    fn fields_outside_the_schema_are_found_in_unmapped_by_pointer() {
        let doc: Value = serde_json::from_str(r#"[["/status","success"],["/extra",{"a":{"b":"deep"}}]]"#).unwrap();
        let mut leaves = Vec::new();
        unmapped(&doc, "/status", &mut leaves);
        assert!(Matcher::new("eq", "SUCCESS").unwrap().matches(&leaves));
        let mut deep = Vec::new();
        unmapped(&doc, "/extra/a/b", &mut deep);
        assert!(Matcher::new("eq", "deep").unwrap().matches(&deep));
        let mut none = Vec::new();
        unmapped(&doc, "/missing", &mut none);
        assert!(Matcher::new("null", "").unwrap().matches(&none));
    }

    #[test]
    fn json_paths_reach_into_lists_and_any_element_matches() {
        let doc: Value = serde_json::from_str(
            r#"{"containerDefinitions":[{"command":["sh","-c","curl $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]},{"command":null}]}"#,
        )
        .unwrap();
        let mut leaves = Vec::new();
        collect(&doc, &["containerDefinitions", "command"], &mut leaves);
        let m = Matcher::new("eq", "*$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI*").unwrap();
        assert!(m.matches(&leaves));
        assert!(!Matcher::new("eq", "*nothing*").unwrap().matches(&leaves));
        let mut none = Vec::new();
        collect(&doc, &["missing", "path"], &mut none);
        assert!(Matcher::new("null", "").unwrap().matches(&none));
        assert!(!Matcher::new("exists", "").unwrap().matches(&none));
    }
}
