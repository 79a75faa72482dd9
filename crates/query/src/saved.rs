//! Named queries: a team's questions kept as `.sql` files in a folder, listed and run by
//! name with parameters (`\saved`, `\run top-errors since=7d` at the prompt; the console's
//! SQL page lists the same files).
//!
//! A file's name (without `.sql`) is the query's name. Its leading `--` comment lines say
//! what it answers, and `-- param NAME = DEFAULT` lines declare parameters with a default;
//! `${NAME}` in the SQL is replaced by the value given, or the default. A parameter used
//! but not declared must be given.
//!
//! ```sql
//! -- The principals with the most failed calls.
//! -- param since = 7d
//! -- param top = 20
//! SELECT principal(useridentity) AS principal, count(*) AS errors
//! FROM cloudtrail
//! WHERE errorcode IS NOT NULL AND eventtime > now() - ${since}
//! GROUP BY 1 ORDER BY errors DESC LIMIT ${top}
//! ```
//!
//! A value becomes a SQL literal, never SQL text, of the kind its default declares: a
//! number (`top = 20`) takes numbers only, a duration (`since = 7d`; `30m`, `24h`, `2w`)
//! durations only and becomes an interval (`INTERVAL '7 days'`), and anything else, or a
//! default in quotes (`account = '111122223333'`), or no default, is text: a quoted string,
//! quotes doubled. So a parameter cannot change what a query does, only what it compares
//! against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{QueryError, Result};

/// One named query, as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedQuery {
    pub name: String,
    /// The leading comment lines that are not parameter declarations, joined.
    pub description: String,
    /// Every `${name}` the SQL uses, in order of first use, with its declared default.
    pub params: Vec<Param>,
    /// The file's whole text.
    pub sql: String,
    pub path: PathBuf,
}

/// A parameter of a named query.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    /// From a `-- param NAME = DEFAULT` line (without quotes); none: the caller must give it.
    pub default: Option<String>,
    /// What its values are, from the default's form.
    pub kind: Kind,
}

/// What a parameter's values are, and so the literal each becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `20`, `-1`, `0.5`: the number itself.
    Number,
    /// `30m`, `24h`, `7d`, `2w`: an interval.
    Duration,
    /// Anything: a quoted string.
    Text,
}

impl Kind {
    /// The kind a declared default says (`'...'` is text whatever it holds), and the
    /// default without its quotes.
    fn of_default(default: &str) -> (Kind, String) {
        let d = default.trim();
        if d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'') {
            return (Kind::Text, d[1..d.len() - 1].to_string());
        }
        let kind = if is_number(d) {
            Kind::Number
        } else if interval(d).is_some() {
            Kind::Duration
        } else {
            Kind::Text
        };
        (kind, d.to_string())
    }

    /// The SQL literal of `value`, or what it should have been.
    pub fn literal(self, value: &str) -> std::result::Result<String, String> {
        let v = value.trim();
        match self {
            Kind::Number if v.starts_with('-') && is_number(v) => Ok(format!("({v})")),
            Kind::Number if is_number(v) => Ok(v.to_string()),
            Kind::Number => Err(format!("a number, not `{value}`")),
            Kind::Duration => interval(v).ok_or_else(|| format!("a duration such as 30m, 24h, 7d, not `{value}`")),
            Kind::Text => Ok(format!("'{}'", value.replace('\'', "''"))),
        }
    }
}

/// The named queries of a folder, and the files that could not be read as one.
#[derive(Debug, Default)]
pub struct Folder {
    pub queries: Vec<SavedQuery>,
    /// One line per file left out: its path and what is wrong with it.
    pub problems: Vec<String>,
}

/// Reads every `*.sql` file of `dir` (not its subfolders), sorted by name. A file that
/// cannot be read or declares a parameter badly is left out and named in
/// [`Folder::problems`]; only a folder that cannot be listed is an error.
pub fn load(dir: &Path) -> Result<Folder> {
    let io = |cause| QueryError::Io { context: format!("cannot read the saved queries in {}", dir.display()), cause };
    let mut folder = Folder::default();
    let mut paths = vec![];
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    for path in paths {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let parsed = std::fs::read_to_string(&path).map_err(|e| e.to_string()).and_then(|text| parse(&name, &text));
        match parsed {
            Ok(query) => folder.queries.push(SavedQuery { path, ..query }),
            Err(e) => folder.problems.push(format!("{}: {e}", path.display())),
        }
    }
    Ok(folder)
}

/// The named query `name` in `queries`, or an error listing the names there are.
pub fn find<'a>(queries: &'a [SavedQuery], name: &str) -> Result<&'a SavedQuery> {
    queries.iter().find(|q| q.name == name).ok_or_else(|| {
        let names: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
        QueryError::Usage(if names.is_empty() {
            format!("no saved query {name}: the folder holds no .sql files")
        } else {
            format!("no saved query {name}; there are: {}", names.join(", "))
        })
    })
}

/// Parses one file's text (`name` is its name without `.sql`).
pub fn parse(name: &str, text: &str) -> std::result::Result<SavedQuery, String> {
    let mut description = vec![];
    let mut declared: BTreeMap<String, (Kind, String)> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else { break };
        let comment = comment.trim();
        match comment.strip_prefix("param ") {
            Some(decl) => {
                let (p, default) = decl
                    .split_once('=')
                    .ok_or_else(|| format!("`-- param {decl}` needs a default: `-- param NAME = VALUE`"))?;
                let p = p.trim();
                if !is_name(p) {
                    return Err(format!("`{p}` is not a parameter name (letters, digits, _)"));
                }
                declared.insert(p.to_string(), Kind::of_default(default));
            }
            None => description.push(comment),
        }
    }
    let mut params: Vec<Param> = vec![];
    for used in placeholders(text)? {
        if !params.iter().any(|p| p.name == used) {
            let (kind, default) = match declared.get(&used) {
                Some((kind, default)) => (*kind, Some(default.clone())),
                None => (Kind::Text, None),
            };
            params.push(Param { default, kind, name: used });
        }
    }
    if let Some(unused) = declared.keys().find(|d| !params.iter().any(|p| &p.name == *d)) {
        return Err(format!("declares the parameter {unused} but never uses ${{{unused}}}"));
    }
    Ok(SavedQuery {
        name: name.to_string(),
        description: description.join(" "),
        params,
        sql: text.to_string(),
        path: PathBuf::new(),
    })
}

impl SavedQuery {
    /// The SQL with every `${name}` replaced by the literal of its value: from `given`
    /// (`name=value` pairs), else the default. A missing value or an unknown name is an
    /// error that lists the parameters.
    pub fn bind(&self, given: &[(String, String)]) -> Result<String> {
        let known = || {
            self.params
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{}={d}", p.name),
                    None => format!("{}=(required)", p.name),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        if let Some((unknown, _)) = given.iter().find(|(k, _)| !self.params.iter().any(|p| &p.name == k)) {
            return Err(QueryError::Usage(if self.params.is_empty() {
                format!("{} takes no parameters (given {unknown})", self.name)
            } else {
                format!("{} has no parameter {unknown}; its parameters: {}", self.name, known())
            }));
        }
        let mut values: BTreeMap<&str, String> = BTreeMap::new();
        for p in &self.params {
            let value = given.iter().rev().find(|(k, _)| *k == p.name).map(|(_, v)| v).or(p.default.as_ref());
            let value = value.ok_or_else(|| {
                QueryError::Usage(format!("{} needs {}=VALUE; its parameters: {}", self.name, p.name, known()))
            })?;
            let literal = p.kind.literal(value).map_err(|want| {
                QueryError::Usage(format!("{}: {} takes {want}; its parameters: {}", self.name, p.name, known()))
            })?;
            values.insert(&p.name, literal);
        }
        let mut out = String::with_capacity(self.sql.len());
        let mut rest = self.sql.as_str();
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('}').map(|e| at + e).unwrap_or(rest.len());
            let name = &rest[at + 2..end];
            out.push_str(values.get(name).map(String::as_str).unwrap_or_default());
            rest = &rest[(end + 1).min(rest.len())..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Splits `top-errors since=7d top=5` style words into `name=value` pairs.
pub fn parse_assignments<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Vec<(String, String)>> {
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if is_name(k) => Ok((k.to_string(), v.to_string())),
            _ => Err(QueryError::Usage(format!("`{w}` is not a parameter: give NAME=VALUE, e.g. since=7d"))),
        })
        .collect()
}

/// `20`, `-1`, `0.5`: digits with an optional sign and fraction (no exponent, no `inf`).
fn is_number(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// `30s`, `15m`, `24h`, `7d`, `2w` as `INTERVAL 'n unit'`.
fn interval(v: &str) -> Option<String> {
    let unit = match v.chars().last()? {
        's' => "seconds",
        'm' => "minutes",
        'h' => "hours",
        'd' => "days",
        'w' => "weeks",
        _ => return None,
    };
    let n = &v[..v.len() - 1];
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| format!("INTERVAL '{n} {unit}'"))
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `${name}` placeholders of `text`, in order.
fn placeholders(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let end = after.find('}').ok_or("a `${` is never closed with `}`")?;
        let name = &after[..end];
        if !is_name(name) {
            return Err(format!("`${{{name}}}` is not a parameter (letters, digits, _)"));
        }
        out.push(name.to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP_ERRORS: &str = "-- The principals with the most failed calls.\n\
        -- param since = 7d\n\
        -- param top = 20\n\
        SELECT principal(useridentity) AS principal, count(*) AS errors FROM cloudtrail\n\
        WHERE errorcode IS NOT NULL AND eventtime > now() - ${since} AND eventname = ${event}\n\
        GROUP BY 1 ORDER BY errors DESC LIMIT ${top}";

    #[test]
    fn a_file_gives_its_description_and_parameters_in_order_of_use() {
        let q = parse("top-errors", TOP_ERRORS).unwrap();
        assert_eq!(q.description, "The principals with the most failed calls.");
        let params: Vec<(&str, Option<&str>)> =
            q.params.iter().map(|p| (p.name.as_str(), p.default.as_deref())).collect();
        assert_eq!(params, [("since", Some("7d")), ("event", None), ("top", Some("20"))]);
    }

    #[test]
    fn values_become_literals_of_the_declared_kind_never_sql_text() {
        let q = parse("top-errors", TOP_ERRORS).unwrap();
        let kinds: Vec<Kind> = q.params.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Kind::Duration, Kind::Text, Kind::Number]);
        let sql = q.bind(&parse_assignments(["event=it's;DROP", "since=24h"]).unwrap()).unwrap();
        assert!(sql.contains("now() - INTERVAL '24 hours'"), "{sql}");
        assert!(sql.contains("eventname = 'it''s;DROP'"), "{sql}");
        assert!(sql.ends_with("LIMIT 20"), "{sql}");
        // A negative number cannot start a `--` comment after a minus in the text.
        let sql = q.bind(&parse_assignments(["event=x", "top=-5"]).unwrap()).unwrap();
        assert!(sql.ends_with("LIMIT (-5)"), "{sql}");
        for bad in ["top=1e9", "top=5; DROP", "since=yesterday"] {
            let e = q.bind(&parse_assignments(["event=x", bad]).unwrap()).unwrap_err().to_string();
            assert!(e.contains("takes a"), "{bad}: {e}");
        }
        // A quoted default is text whatever it holds: an account id stays a string.
        let q = parse("q", "-- param account = '111122223333'\nSELECT ${account}").unwrap();
        assert_eq!(q.params[0].kind, Kind::Text);
        assert_eq!(q.bind(&[]).unwrap(), "-- param account = '111122223333'\nSELECT '111122223333'");
        assert_eq!(Kind::Text.literal("2026-12-01"), Ok("'2026-12-01'".into()));
    }

    #[test]
    fn a_missing_or_unknown_parameter_is_an_error_listing_the_parameters() {
        let q = parse("top-errors", TOP_ERRORS).unwrap();
        let missing = q.bind(&[]).unwrap_err().to_string();
        assert!(missing.contains("needs event=VALUE") && missing.contains("since=7d"), "{missing}");
        let unknown = q.bind(&parse_assignments(["evnt=x"]).unwrap()).unwrap_err().to_string();
        assert!(unknown.contains("no parameter evnt") && unknown.contains("event=(required)"), "{unknown}");
        assert!(parse_assignments(["since"]).is_err());
    }

    #[test]
    fn a_bad_declaration_names_what_is_wrong() {
        assert!(parse("q", "-- param since\nSELECT ${since}").unwrap_err().contains("needs a default"));
        assert!(parse("q", "-- param since = 1\nSELECT 1").unwrap_err().contains("never uses ${since}"));
        assert!(parse("q", "SELECT ${a b}").unwrap_err().contains("not a parameter"));
        assert!(parse("q", "SELECT ${a").unwrap_err().contains("never closed"));
    }
}
