//! Rule lint: the event sources and event names a rule compares with, checked against what
//! CloudTrail can record, so a misspelt or invented name (a rule that can never match) is
//! caught before it ships instead of staying silent in production.
//!
//! What is known ([`ApiTable`]): `crates/detections/aws-api/events.tsv`, generated from AWS's API
//! models by `scripts/aws-api-table.py` (event source -> operations), and the hand-written
//! `crates/detections/aws-api/cloudtrail-only.toml` (sign-in events, service events, console-only
//! calls, S3's CloudTrail names), both embedded in the binary.
//!
//! What is checked: in a TOML rule's SQL (its `sql`, `resolve` and baselines' `where`),
//! `eventsource`/`eventname` compared with `=`, `<>`, `IN (...)`, `LIKE`/`ILIKE` and `CASE
//! eventname WHEN ...`; in a Sigma rule, the `eventSource`/`eventName` values of every
//! selection (with `|contains`, `|startswith`, `|endswith`, wildcards and `|re` as patterns).
//! A name must be an event of the sources the rule names (any source when it names none); a
//! pattern must match at least one known name. Each [`Finding`] says the rule, its file and
//! line, and the closest known names.
//!
//! ```no_run
//! let findings = detections::lint::lint_builtin(true, true)?;
//! for f in findings.iter().filter(|f| f.accepted.is_none()) {
//!     println!("{f}");
//! }
//! # Ok::<(), detections::DetectError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use datafusion::common::utils::datafusion_strsim::levenshtein;
use serde::Deserialize;
use yaml_rust2::{Yaml, YamlLoader};

use crate::error::{DetectError, Result};

/// The generated table: `<source>\t<Name> <Name> ...` per line.
const EVENTS_TSV: &str = include_str!("../aws-api/events.tsv");
/// Events no API model names, each with the page that lists it.
const CLOUDTRAIL_ONLY: &str = include_str!("../aws-api/cloudtrail-only.toml");
/// Findings in SigmaHQ's rules (which are shipped as published) that are known and explained.
const SIGMA_UPSTREAM: &str = include_str!("../aws-api/sigma-upstream.toml");

/// Event sources whose event names carry a version suffix: Lambda logs UpdateFunctionCode
/// as `UpdateFunctionCode20150331v2` (the operation, its API date, and sometimes `v<N>`).
const DATED_SOURCES: [&str; 1] = ["lambda.amazonaws.com"];

/// How many close names a finding suggests.
const CLOSEST: usize = 3;

/// The event sources and names CloudTrail can record.
#[derive(Debug, Default)]
pub struct ApiTable {
    sources: BTreeMap<String, BTreeSet<String>>,
    /// Name -> the sources that have it.
    by_name: HashMap<String, Vec<String>>,
    /// Lowercase name -> the names spelt so.
    by_lower: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudTrailOnly {
    event: Vec<CloudTrailOnlyEvent>,
}

/// One entry of `cloudtrail-only.toml`: names of a source and where they were seen.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudTrailOnlyEvent {
    source: String,
    names: Vec<String>,
    doc: Option<String>,
    recorded: Option<String>,
    reference: Option<String>,
}

impl ApiTable {
    /// The table built into the binary (parsed once).
    pub fn builtin() -> Result<&'static ApiTable> {
        static TABLE: OnceLock<std::result::Result<ApiTable, String>> = OnceLock::new();
        TABLE.get_or_init(|| ApiTable::parse(EVENTS_TSV, CLOUDTRAIL_ONLY)).as_ref().map_err(|message| {
            DetectError::Rule { origin: "crates/detections/aws-api".into(), message: message.clone() }
        })
    }

    /// A table from the generated TSV and the CloudTrail-only TOML.
    pub fn parse(tsv: &str, cloudtrail_only: &str) -> std::result::Result<ApiTable, String> {
        let mut sources: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (i, line) in tsv.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some((source, names)) = line.split_once('\t') else {
                return Err(format!("events.tsv line {}: no tab between source and names", i + 1));
            };
            sources.entry(source.to_string()).or_default().extend(names.split(' ').map(str::to_string));
        }
        let extra: CloudTrailOnly =
            toml::from_str(cloudtrail_only).map_err(|e| format!("cloudtrail-only.toml: {e}"))?;
        for e in extra.event {
            if [&e.doc, &e.recorded, &e.reference].iter().filter(|w| w.is_some()).count() != 1 {
                return Err(format!(
                    "cloudtrail-only.toml: {} {:?}: give one of doc, recorded, reference",
                    e.source, e.names
                ));
            }
            sources.entry(e.source).or_default().extend(e.names);
        }
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        let mut by_lower: HashMap<String, Vec<String>> = HashMap::new();
        for (source, names) in &sources {
            for n in names {
                let sources_of = by_name.entry(n.clone()).or_default();
                if sources_of.is_empty() {
                    by_lower.entry(n.to_lowercase()).or_default().push(n.clone());
                }
                sources_of.push(source.clone());
            }
        }
        Ok(ApiTable { sources, by_name, by_lower })
    }

    /// Whether CloudTrail records events from `source`.
    pub fn has_source(&self, source: &str) -> bool {
        self.sources.contains_key(source)
    }

    /// The sources that record an event named `name` (exactly as spelt, or with Lambda's
    /// version suffix).
    pub fn sources_of(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self.by_name.get(name).cloned().unwrap_or_default();
        for source in DATED_SOURCES {
            if !out.iter().any(|s| s == source) && self.dated_known(source, name) {
                out.push(source.to_string());
            }
        }
        out
    }

    /// `name` is an event of one of `scope` (of any source when `scope` is empty), compared
    /// exactly or ignoring case.
    pub fn knows_name(&self, name: &str, scope: &[String], ignore_case: bool) -> bool {
        let spellings: Vec<String> = if ignore_case {
            let lower = name.to_lowercase();
            let mut v = self.by_lower.get(&lower).cloned().unwrap_or_default();
            // Lambda's versioned names: the stem, in the table's spelling, with the suffix.
            let stem = version_stem(&lower);
            if stem.len() < lower.len() {
                v.extend(self.by_lower.get(stem).into_iter().flatten().map(|s| format!("{s}{}", &lower[stem.len()..])));
            }
            v
        } else {
            vec![name.to_string()]
        };
        spellings.iter().any(|n| {
            let sources = self.sources_of(n);
            if scope.is_empty() { !sources.is_empty() } else { sources.iter().any(|s| scope.contains(s)) }
        })
    }

    /// `name` with Lambda's suffix (`<8 digits>`, `v<N>` or both) is an operation of `source`.
    fn dated_known(&self, source: &str, name: &str) -> bool {
        let Some(names) = self.sources.get(source) else { return false };
        let without_v = strip_version(name);
        let stem = version_stem(name);
        (without_v.len() < name.len() && names.contains(without_v)) || (stem.len() < name.len() && names.contains(stem))
    }

    /// The names of `scope` (every name when empty).
    fn names_in<'a>(&'a self, scope: &'a [String]) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        if scope.is_empty() {
            Box::new(self.by_name.keys())
        } else {
            Box::new(scope.iter().filter_map(|s| self.sources.get(s)).flatten())
        }
    }

    /// Whether `pattern` matches a name of `scope` (of any source when empty).
    fn pattern_matches_name(&self, pattern: &regex::Regex, scope: &[String]) -> bool {
        self.names_in(scope).any(|n| pattern.is_match(n))
    }

    /// The `n` names of `scope` closest to `to` (edit distance, ignoring case).
    pub fn closest_names(&self, to: &str, scope: &[String], n: usize) -> Vec<String> {
        closest(to, self.names_in(scope), n)
    }

    /// The `n` event sources closest to `to`.
    pub fn closest_sources(&self, to: &str, n: usize) -> Vec<String> {
        closest(to, self.sources.keys(), n)
    }

    /// How many sources and names the table has.
    pub fn size(&self) -> (usize, usize) {
        (self.sources.len(), self.sources.values().map(BTreeSet::len).sum())
    }
}

/// `name` without a trailing `v<N>`.
fn strip_version(name: &str) -> &str {
    let t = name.trim_end_matches(|c: char| c.is_ascii_digit());
    match t.strip_suffix('v') {
        Some(s) if t.len() < name.len() => s,
        _ => name,
    }
}

/// `name` without Lambda's `<8 digits>` and `v<N>` suffix.
fn version_stem(name: &str) -> &str {
    let s = strip_version(name);
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 8 { &s[..s.len() - 8] } else { s }
}

/// The `n` candidates closest to `to`, nearest first: by edit distance ignoring case, and a
/// candidate that one contains the other (`PutBucketReplication` for
/// `PutBucketReplicationConfiguration`) counts as one edit away.
fn closest<'a>(to: &str, candidates: impl Iterator<Item = &'a String>, n: usize) -> Vec<String> {
    let to = to.to_lowercase();
    let score = |c: &str| {
        let c = c.to_lowercase();
        let contained = c.len().min(to.len()) >= 4 && (to.contains(&c) || c.contains(&to));
        if contained { 1 } else { levenshtein(&to, &c) }
    };
    let mut scored: Vec<(usize, &String)> = candidates.map(|c| (score(c), c)).collect::<Vec<_>>();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, c)| c.clone()).collect()
}

/// The column a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    EventSource,
    EventName,
}

impl Field {
    fn noun(self) -> &'static str {
        match self {
            Field::EventSource => "event source",
            Field::EventName => "event name",
        }
    }
}

/// What is wrong with a value a rule compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No known event has this source.
    UnknownSource,
    /// No event of the rule's sources (of any source, when the rule names none) has this name.
    UnknownName,
    /// A pattern (LIKE, Sigma wildcards or `|re`) that matches no known source or name.
    PatternMatchesNothing,
}

/// One value a rule compares `eventsource` or `eventname` with that CloudTrail never records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id.
    pub rule: String,
    /// The rule's file.
    pub file: String,
    /// The line in the file (1-based).
    pub line: usize,
    pub field: Field,
    pub problem: Problem,
    /// The value as the rule writes it (a pattern in its own syntax).
    pub value: String,
    /// The sources a name was looked for in (empty: any).
    pub scope: Vec<String>,
    /// Known names (or sources) closest to the value.
    pub closest: Vec<String>,
    /// Sources that do have the name, when it is an event of another source.
    pub elsewhere: Vec<String>,
    /// Why the finding is accepted (a SigmaHQ rule shipped as published), if it is.
    pub accepted: Option<String>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: rule {}: ", self.file, self.line, self.rule)?;
        let scope = if self.scope.is_empty() { "any source".to_string() } else { self.scope.join(", ") };
        match self.problem {
            Problem::UnknownSource => write!(f, "unknown event source {:?}", self.value)?,
            Problem::UnknownName => write!(f, "unknown event name {:?} for {scope}", self.value)?,
            Problem::PatternMatchesNothing if self.field == Field::EventSource => {
                write!(f, "event source pattern {:?} matches no known source", self.value)?
            }
            Problem::PatternMatchesNothing => {
                write!(f, "event name pattern {:?} matches no event of {scope}", self.value)?
            }
        }
        if !self.elsewhere.is_empty() {
            write!(f, " (it is an event of {})", self.elsewhere.join(", "))?;
        }
        if !self.closest.is_empty() {
            write!(f, "; closest known {}s: {}", self.field.noun(), self.closest.join(", "))?;
        }
        if let Some(why) = &self.accepted {
            write!(f, " [accepted: {why}]")?;
        }
        Ok(())
    }
}

/// How a value is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Compare {
    /// Equal, case-sensitive (SQL `=`, `IN`) or not (a Sigma value).
    Exact { ignore_case: bool },
    /// A pattern, as an anchored regular expression.
    Pattern { regex: String },
}

/// One comparison a rule makes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparison {
    field: Field,
    value: String,
    compare: Compare,
    /// `<>`, `NOT IN`, `NOT LIKE`: still checked, but not a source the rule's names are of.
    negated: bool,
    line: usize,
    /// Comparisons of one group (a Sigma selection's map) scope each other's names.
    group: usize,
}

/// The findings of one rule's comparisons. A name is looked for in its group's sources, else
/// in the rule's sources, else anywhere.
fn check(rule: &str, file: &str, comparisons: &[Comparison], table: &ApiTable) -> Vec<Finding> {
    let positive_sources = |group: Option<usize>| -> Vec<String> {
        let mut v: Vec<String> = comparisons
            .iter()
            .filter(|c| c.field == Field::EventSource && !c.negated && group.is_none_or(|g| c.group == g))
            .filter(|c| matches!(c.compare, Compare::Exact { .. }) && table.has_source(&c.value))
            .map(|c| c.value.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let rule_sources = positive_sources(None);
    let mut out = Vec::new();
    for c in comparisons {
        let finding = |problem: Problem, scope: Vec<String>, closest: Vec<String>, elsewhere: Vec<String>| Finding {
            rule: rule.to_string(),
            file: file.to_string(),
            line: c.line,
            field: c.field,
            problem,
            value: c.value.clone(),
            scope,
            closest,
            elsewhere,
            accepted: None,
        };
        match (c.field, &c.compare) {
            (Field::EventSource, Compare::Exact { ignore_case }) => {
                let known = if *ignore_case {
                    table.sources.keys().any(|s| s.eq_ignore_ascii_case(&c.value))
                } else {
                    table.has_source(&c.value)
                };
                if !known {
                    out.push(finding(Problem::UnknownSource, vec![], table.closest_sources(&c.value, CLOSEST), vec![]));
                }
            }
            (Field::EventSource, Compare::Pattern { regex }) => {
                let matches = regex::Regex::new(regex).is_ok_and(|re| table.sources.keys().any(|s| re.is_match(s)));
                if !matches {
                    let plain = c.value.replace(['%', '_', '*', '?'], "");
                    out.push(finding(
                        Problem::PatternMatchesNothing,
                        vec![],
                        table.closest_sources(&plain, CLOSEST),
                        vec![],
                    ));
                }
            }
            (Field::EventName, compare) => {
                let group_sources = positive_sources(Some(c.group));
                let scope = if group_sources.is_empty() { rule_sources.clone() } else { group_sources };
                match compare {
                    Compare::Exact { ignore_case } => {
                        if !table.knows_name(&c.value, &scope, *ignore_case) {
                            let elsewhere: Vec<String> = table.sources_of(&c.value).into_iter().take(CLOSEST).collect();
                            let closest = table.closest_names(&c.value, &scope, CLOSEST);
                            out.push(finding(Problem::UnknownName, scope, closest, elsewhere));
                        }
                    }
                    Compare::Pattern { regex } => {
                        let matches = regex::Regex::new(regex).is_ok_and(|re| table.pattern_matches_name(&re, &scope));
                        if !matches {
                            let plain = c.value.replace(['%', '_', '*', '?'], "");
                            let closest = table.closest_names(&plain, &scope, CLOSEST);
                            out.push(finding(Problem::PatternMatchesNothing, scope, closest, vec![]));
                        }
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// TOML rules: comparisons in the SQL.

/// The parts of a rule file the lint reads, with where their values are in the file.
#[derive(Deserialize)]
struct TomlSpans {
    id: String,
    sql: toml::Spanned<String>,
    resolve: Option<toml::Spanned<String>>,
    #[serde(default)]
    baseline: Vec<BaselineSpan>,
}

#[derive(Deserialize)]
struct BaselineSpan {
    #[serde(rename = "where")]
    filter: Option<toml::Spanned<String>>,
}

/// A SQL token.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// An identifier or keyword (lowercase), dotted parts joined (`t.eventname`).
    Word(String),
    /// A string literal's text, and its byte offset in the SQL.
    Text(String, usize),
    Sym(String),
}

/// SQL tokens (comments dropped, numbers as words).
fn tokens(sql: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == '-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == '\'' {
            let start = i;
            let mut text = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        text.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                let ch = sql[i..].chars().next().unwrap_or(' ');
                text.push(ch);
                i += ch.len_utf8();
            }
            out.push(Token::Text(text, start));
        } else if c.is_ascii_alphanumeric() || c == '_' || c == '"' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' || b[i] == b'"') {
                i += 1;
            }
            out.push(Token::Word(sql[start..i].replace('"', "").to_ascii_lowercase()));
        } else if ((c == '<' || c == '!' || c == '>') && b.get(i + 1) == Some(&b'='))
            || (c == '<' && b.get(i + 1) == Some(&b'>'))
        {
            out.push(Token::Sym(sql[i..i + 2].to_string()));
            i += 2;
        } else {
            let ch = sql[i..].chars().next().unwrap_or(' ');
            out.push(Token::Sym(ch.to_string()));
            i += ch.len_utf8();
        }
    }
    out
}

/// The column a word names, if `eventsource` or `eventname` (bare or qualified).
fn column(t: Option<&Token>) -> Option<Field> {
    let Some(Token::Word(w)) = t else { return None };
    match w.rsplit('.').next() {
        Some("eventsource") => Some(Field::EventSource),
        Some("eventname") => Some(Field::EventName),
        _ => None,
    }
}

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token::Word(x)) if x == w)
}

fn is_sym(t: Option<&Token>, s: &str) -> bool {
    matches!(t, Some(Token::Sym(x)) if x == s)
}

/// A SQL LIKE pattern as an anchored regular expression (`%`, `_`, `\` escapes).
fn like_regex(pattern: &str, ignore_case: bool) -> String {
    let mut out = String::from(if ignore_case { "(?i)^" } else { "^" });
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

/// The comparisons of SQL text: (field, value, compare, negated, byte offset of the literal).
fn sql_comparisons(sql: &str) -> Vec<(Field, String, Compare, bool, usize)> {
    let t = tokens(sql);
    let exact = Compare::Exact { ignore_case: false };
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        // `'value' = eventname`
        if let (Some(Token::Text(v, at)), Some(Token::Sym(op))) = (t.get(i), t.get(i + 1))
            && ["=", "<>", "!="].contains(&op.as_str())
            && let Some(field) = column(t.get(i + 2))
        {
            out.push((field, v.clone(), exact.clone(), op != "=", *at));
            i += 3;
            continue;
        }
        // `CASE eventname WHEN 'a' ... WHEN 'b' ... END`
        if is_word(t.get(i), "case")
            && let Some(field) = column(t.get(i + 1))
        {
            let mut depth = 0usize;
            let mut j = i + 2;
            while j < t.len() {
                match &t[j] {
                    Token::Word(w) if w == "case" => depth += 1,
                    Token::Word(w) if w == "end" => {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                    Token::Word(w) if w == "when" && depth == 0 => {
                        if let Some(Token::Text(v, at)) = t.get(j + 1) {
                            out.push((field, v.clone(), exact.clone(), false, *at));
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            i += 2;
            continue;
        }
        let Some(field) = column(t.get(i)) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        let negated = is_word(t.get(j), "not");
        if negated {
            j += 1;
        }
        match t.get(j) {
            Some(Token::Sym(op)) if !negated && ["=", "<>", "!="].contains(&op.as_str()) => {
                if let Some(Token::Text(v, at)) = t.get(j + 1) {
                    out.push((field, v.clone(), exact.clone(), op != "=", *at));
                }
            }
            Some(Token::Word(w)) if w == "in" && is_sym(t.get(j + 1), "(") => {
                let mut k = j + 2;
                while let Some(Token::Text(v, at)) = t.get(k) {
                    out.push((field, v.clone(), exact.clone(), negated, *at));
                    if !is_sym(t.get(k + 1), ",") {
                        break;
                    }
                    k += 2;
                }
            }
            Some(Token::Word(w)) if w == "like" || w == "ilike" => {
                if let Some(Token::Text(v, at)) = t.get(j + 1) {
                    let regex = like_regex(v, w == "ilike");
                    out.push((field, v.clone(), Compare::Pattern { regex }, negated, *at));
                }
            }
            _ => {}
        }
        i = j;
    }
    out
}

/// 1-based line of byte `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The line in the file of the `nth` (0-based) occurrence of `needle` within `span`, or of
/// the span's start.
fn line_in_span(text: &str, span: std::ops::Range<usize>, needle: &str, nth: usize) -> usize {
    let raw = text.get(span.clone()).unwrap_or_default();
    match raw.match_indices(needle).nth(nth) {
        Some((at, _)) => line_of(text, span.start + at),
        None => line_of(text, span.start),
    }
}

/// The comparisons of a TOML rule file, with the rule's id.
fn toml_comparisons(file: &str, text: &str) -> Result<(String, Vec<Comparison>)> {
    let spans: TomlSpans =
        toml::from_str(text).map_err(|e| DetectError::Rule { origin: file.to_string(), message: e.to_string() })?;
    let mut sqls = vec![&spans.sql];
    sqls.extend(spans.resolve.as_ref());
    sqls.extend(spans.baseline.iter().filter_map(|b| b.filter.as_ref()));
    let mut out = Vec::new();
    for sql in sqls {
        let body = sql.get_ref();
        for (field, value, compare, negated, at) in sql_comparisons(body) {
            // The literal as the SQL spells it, and which occurrence of it this is.
            let quoted = format!("'{}'", value.replace('\'', "''"));
            let nth = body[..at].matches(&quoted).count();
            let line = line_in_span(text, sql.span(), &quoted, nth);
            out.push(Comparison { field, value, compare, negated, line, group: 0 });
        }
    }
    Ok((spans.id, out))
}

/// The findings of one TOML rule file.
pub fn lint_toml(file: &str, text: &str, table: &ApiTable) -> Result<Vec<Finding>> {
    let (id, comparisons) = toml_comparisons(file, text)?;
    Ok(check(&id, file, &comparisons, table))
}

// ---------------------------------------------------------------------------------------
// Sigma rules: eventSource / eventName values of the detection's selections.

/// A Sigma value with modifiers as a comparison (`None`: not a name comparison, e.g. |exists).
fn sigma_compare(value: &str, mods: &[&str]) -> Option<Compare> {
    if mods.iter().any(|m| ["exists", "fieldref", "cidr", "base64", "base64offset", "expand"].contains(m)) {
        return None;
    }
    let cased = mods.contains(&"cased");
    let flag = if cased { "" } else { "(?i)" };
    if mods.contains(&"re") {
        return Some(Compare::Pattern { regex: format!("{flag}{value}") });
    }
    let (contains, starts, ends) =
        (mods.contains(&"contains"), mods.contains(&"startswith"), mods.contains(&"endswith"));
    let wild = value.contains(['*', '?']);
    if !(contains || starts || ends || wild) {
        return Some(Compare::Exact { ignore_case: !cased });
    }
    let mut re = String::from(flag);
    re.push('^');
    if contains || ends {
        re.push_str(".*");
    }
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                let n = chars.next().unwrap_or('\\');
                re.push_str(&regex::escape(&n.to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if contains || starts {
        re.push_str(".*");
    }
    re.push('$');
    Some(Compare::Pattern { regex: re })
}

/// Where a Sigma value is written: the first line at or after `from` (0-based) that holds
/// `key:` (or `- key:`), then the first line from there holding the value.
fn sigma_line(lines: &[&str], from: usize, key: &str, value: &str) -> usize {
    let key_line = (from..lines.len())
        .find(|&i| {
            let t = lines[i].trim_start().trim_start_matches("- ").trim_start();
            t.starts_with(&format!("{key}:"))
        })
        .unwrap_or(from);
    (key_line..lines.len()).find(|&i| lines[i].contains(value)).unwrap_or(key_line) + 1
}

/// The comparisons of one selection (a map, or a list of maps), each map its own group.
fn selection_comparisons(y: &Yaml, lines: &[&str], from: usize, group: &mut usize, out: &mut Vec<Comparison>) {
    match y {
        Yaml::Hash(map) => {
            *group += 1;
            for (k, v) in map {
                let Yaml::String(key) = k else { continue };
                let mut parts = key.split('|');
                let name = parts.next().unwrap_or_default();
                let field = if name.eq_ignore_ascii_case("eventSource") {
                    Field::EventSource
                } else if name.eq_ignore_ascii_case("eventName") {
                    Field::EventName
                } else {
                    continue;
                };
                let mods: Vec<&str> = parts.collect();
                let values: Vec<&Yaml> = match v {
                    Yaml::Array(items) => items.iter().collect(),
                    v => vec![v],
                };
                for v in values {
                    let Yaml::String(value) = v else { continue };
                    let Some(compare) = sigma_compare(value, &mods) else { continue };
                    let line = sigma_line(lines, from, key, value);
                    out.push(Comparison { field, value: value.clone(), compare, negated: false, line, group: *group });
                }
            }
        }
        Yaml::Array(items) => {
            for i in items {
                selection_comparisons(i, lines, from, group, out);
            }
        }
        _ => {}
    }
}

/// The findings of one Sigma rule file (each detection document).
pub fn lint_sigma(file: &str, text: &str, table: &ApiTable) -> Result<Vec<Finding>> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| DetectError::Rule { origin: file.to_string(), message: format!("not YAML: {e}") })?;
    let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
    let lines: Vec<&str> = text.lines().collect();
    // Documents start at `---` lines; a document's selections are found from its start.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(lines.iter().enumerate().filter(|(i, l)| *i > 0 && l.trim_end() == "---").map(|(i, _)| i))
        .collect();
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let Yaml::Hash(detection) = &doc["detection"] else { continue };
        let id = if docs.len() > 1 {
            let name = match &doc["name"] {
                Yaml::String(n) => n.clone(),
                _ => (i + 1).to_string(),
            };
            crate::sigma::rule_id(&format!("{stem}-{name}"))
        } else {
            crate::sigma::rule_id(stem)
        };
        let doc_start = starts.get(i).copied().unwrap_or(0);
        let detection_line =
            (doc_start..lines.len()).find(|&l| lines[l].trim_start().starts_with("detection:")).unwrap_or(doc_start);
        let mut comparisons = Vec::new();
        let mut group = 0;
        for (k, v) in detection {
            let Yaml::String(name) = k else { continue };
            if name == "condition" || name == "timeframe" {
                continue;
            }
            let from = (detection_line..lines.len())
                .find(|&l| lines[l].trim_start().starts_with(&format!("{name}:")))
                .unwrap_or(detection_line);
            selection_comparisons(v, &lines, from, &mut group, &mut comparisons);
        }
        out.extend(check(&id, file, &comparisons, table));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Packs and folders.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upstream {
    finding: Vec<UpstreamFinding>,
}

/// A finding in a SigmaHQ rule that is known: the rule ships as SigmaHQ publishes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamFinding {
    rule: String,
    value: String,
    why: String,
}

/// Marks the findings `sigma-upstream.toml` explains as accepted.
fn accept_known(findings: &mut [Finding]) -> Result<()> {
    let known: Upstream = toml::from_str(SIGMA_UPSTREAM).map_err(|e| DetectError::Rule {
        origin: "crates/detections/aws-api/sigma-upstream.toml".into(),
        message: e.to_string(),
    })?;
    for f in findings.iter_mut() {
        if let Some(k) = known.finding.iter().find(|k| k.rule == f.rule && k.value == f.value) {
            f.accepted = Some(k.why.clone());
        }
    }
    Ok(())
}

/// The findings of rule files given as (file name, text): `*.toml` rules (not Sigma
/// `*.tests.toml`) and `*.yml`/`*.yaml` Sigma rules; other files are skipped.
pub fn lint_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Vec<Finding>> {
    let table = ApiTable::builtin()?;
    let mut out = Vec::new();
    for (file, text) in files {
        if file.ends_with(".tests.toml") {
            continue;
        }
        if file.ends_with(".toml") {
            out.extend(lint_toml(file, text, table)?);
        } else if file.ends_with(".yml") || file.ends_with(".yaml") {
            out.extend(lint_sigma(file, text, table)?);
        }
    }
    accept_known(&mut out)?;
    Ok(out)
}

/// The findings of the built-in packs: trailhouse's (`crates/detections/packs/trailhouse/`) and SigmaHQ's
/// (`crates/detections/packs/sigma/`), files named as in the repository.
pub fn lint_builtin(trailhouse: bool, sigma: bool) -> Result<Vec<Finding>> {
    let rules = crate::pack::BUILTIN_RULES
        .iter()
        .filter(|_| trailhouse)
        .map(|(n, t)| (format!("crates/detections/packs/trailhouse/{n}"), *t));
    let sigma = crate::pack::BUILTIN_SIGMA
        .iter()
        .filter(|_| sigma)
        .map(|(n, t)| (format!("crates/detections/packs/sigma/{n}"), *t));
    let files: Vec<(String, &str)> = rules.chain(sigma).collect();
    lint_files(files.iter().map(|(n, t)| (n.as_str(), *t)))
}

/// The findings of the rule files in `dir`.
pub fn lint_dir(dir: &Path) -> Result<Vec<Finding>> {
    let io = |cause| DetectError::Io { context: format!("reading rules from {}", dir.display()), cause };
    let mut files = Vec::new();
    let mut paths: Vec<std::path::PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().map_err(io)?;
    paths.sort();
    for p in paths {
        let name = p.display().to_string();
        if [".toml", ".yml", ".yaml"].iter().any(|s| name.ends_with(s)) && !name.ends_with(".tests.toml") {
            let text = std::fs::read_to_string(&p).map_err(io)?;
            files.push((name, text));
        }
    }
    lint_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(sql: &str) -> String {
        format!("id = \"t\"\nsql = \"\"\"\nSELECT *\nFROM events\n{sql}\n\"\"\"\n")
    }

    fn lint(sql: &str) -> Vec<Finding> {
        let table = ApiTable::builtin().expect("the built-in table parses");
        lint_toml("t.toml", &rule(sql), table).expect("lints")
    }

    #[test]
    fn a_misspelt_name_is_reported_with_its_line_and_closest_names() {
        let f = lint(
            "WHERE eventsource = 'iam.amazonaws.com'\n  AND eventname IN ('CreateUser', 'AttachUserPolicy', 'CreatAccessKey')",
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].line, f[0].value.as_str(), &f[0].problem), (6, "CreatAccessKey", &Problem::UnknownName));
        assert_eq!(f[0].closest.first().map(String::as_str), Some("CreateAccessKey"), "{f:?}");
        assert_eq!(f[0].closest.len(), 3);
        let shown = f[0].to_string();
        assert!(
            shown.starts_with("t.toml:6: rule t: unknown event name \"CreatAccessKey\" for iam.amazonaws.com"),
            "{shown}"
        );
    }

    #[test]
    fn a_name_of_another_source_is_reported_with_where_it_belongs() {
        let f = lint("WHERE eventsource = 'iam.amazonaws.com' AND eventname = 'GetObject'");
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].elsewhere.contains(&"s3.amazonaws.com".to_string()), "{f:?}");
        // Without a source, a name of any source is fine.
        assert!(lint("WHERE eventname = 'GetObject'").is_empty());
    }

    #[test]
    fn lambda_versioned_names_are_known() {
        for name in ["UpdateFunctionCode20150331v2", "AddPermission20150331v2", "CreateFunction20150331", "Invoke"] {
            let f = lint(&format!("WHERE eventsource = 'lambda.amazonaws.com' AND eventname = '{name}'"));
            assert!(f.is_empty(), "{name}: {f:?}");
        }
        let f = lint("WHERE eventsource = 'lambda.amazonaws.com' AND eventname = 'UpdateFunctionCod20150331v2'");
        assert_eq!(f.len(), 1, "a misspelt stem is still wrong: {f:?}");
        assert!(lint("WHERE eventname LIKE 'CreateFunction2%'").is_empty(), "the dated names match patterns");
    }

    #[test]
    fn a_like_pattern_matching_nothing_is_reported() {
        let f = lint("WHERE eventsource = 'lambda.amazonaws.com' AND eventname LIKE 'UpdateFunctionCodez%'");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].problem, Problem::PatternMatchesNothing);
        assert!(lint("WHERE eventname LIKE 'UpdateFunctionCode%' OR eventname ILIKE 'getobject'").is_empty());
        assert_eq!(lint("WHERE eventname LIKE 'getobject'").len(), 1, "LIKE compares case");
    }

    #[test]
    fn cloudtrail_only_events_are_known() {
        assert!(
            lint("WHERE eventsource = 'signin.amazonaws.com' AND eventname IN ('ConsoleLogin', 'CheckMfa')").is_empty()
        );
        assert!(lint("WHERE eventname = 'UserAuthentication'").is_empty());
        assert!(lint("WHERE eventsource = 's3.amazonaws.com' AND eventname = 'PutBucketPublicAccessBlock'").is_empty());
        assert_eq!(lint("WHERE eventsource = 'signin.amazonaws.com' AND eventname = 'ConsoleLogon'").len(), 1);
    }

    #[test]
    fn unknown_sources_and_negations_and_case_are_checked() {
        let f = lint("WHERE eventsource = 'iam.amazonaw.com' AND eventname = 'CreateUser'");
        assert_eq!(f[0].problem, Problem::UnknownSource, "{f:?}");
        assert_eq!(f[0].closest.first().map(String::as_str), Some("iam.amazonaws.com"));
        // A source the rule excludes is checked but does not scope its names.
        assert!(lint("WHERE eventsource NOT IN ('ssm.amazonaws.com') AND eventname = 'RunInstances'").is_empty());
        assert_eq!(lint("WHERE eventsource <> 'ssm.amazonaws.con'").len(), 1);
        // SQL's = compares case: a lowercase name never matches.
        assert_eq!(lint("WHERE eventname = 'consolelogin'").len(), 1);
        // CASE eventname WHEN ... and a literal on the left.
        assert_eq!(lint("WHERE CASE eventname WHEN 'GetParamter' THEN 1 END = 1").len(), 1);
        assert_eq!(lint("WHERE 'StopLoging' = eventname").len(), 1);
        // Other columns' strings and comments are not names.
        assert!(lint("WHERE errorcode = 'AccessDenied' -- eventname = 'Nope'").is_empty());
    }

    #[test]
    fn sigma_selections_are_checked_per_map_with_modifiers() {
        let table = ApiTable::builtin().expect("table");
        let text = "title: t\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    selection:\n        eventSource: iam.amazonaws.com\n        eventName:\n            - CreateUser\n            - createaccesskey\n            - DeleteUsr\n    other:\n        - eventSource: s3.amazonaws.com\n        - eventName|startswith: 'PutBucketPolicyX'\n    condition: selection or other\n";
        let f = lint_sigma("aws_x.yml", text, table).expect("lints");
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!((f[0].rule.as_str(), f[0].line, f[0].value.as_str()), ("sigma-aws-x", 11, "DeleteUsr"));
        assert_eq!(f[1].problem, Problem::PatternMatchesNothing, "{f:?}");
        let rule_sources = vec!["iam.amazonaws.com".to_string(), "s3.amazonaws.com".to_string()];
        assert_eq!(f[1].scope, rule_sources, "a map without a source takes the rule's");
    }

    #[test]
    fn the_tables_say_where_each_name_comes_from() {
        let table = ApiTable::builtin().expect("the built-in table parses");
        let (sources, names) = table.size();
        assert!(sources > 300 && names > 15_000, "{sources} sources, {names} names");
        assert!(accept_known(&mut []).is_ok(), "sigma-upstream.toml parses");
        let bad = "[[event]]\nsource = \"x.amazonaws.com\"\nnames = [\"A\"]\n";
        assert!(ApiTable::parse("", bad).is_err_and(|e| e.contains("give one of doc")));
    }
}
