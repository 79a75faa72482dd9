//! A Sigma `detection` section compiled to a SQL condition over the lake's `cloudtrail`
//! columns, with Sigma's semantics rather than SQL's:
//!
//! - field paths in CloudTrail's JSON spelling resolve to the typed columns where the
//!   schema has them (`userIdentity.sessionContext.sessionIssuer.type` ->
//!   `useridentity['sessioncontext']['sessionissuer']['type']`), and to a search inside the
//!   JSON text columns otherwise (`requestParameters.ipPermissions.items.ipRanges.cidrIP`:
//!   any element of any list on the way matches, `sigma_match`);
//! - a list of values is any of them (all of them with `|all`), a map is all of its
//!   fields, a list of maps any of the maps;
//! - strings match case-insensitively (`|cased` for exact case), with `*` and `?`
//!   wildcards and `\` escapes; `|contains`, `|startswith`, `|endswith` add the wildcards;
//!   `|re` (with `|i`, `|m`, `|s`), `|cidr`, `|exists`, `|fieldref`, and `null`;
//! - every leaf is true or false, never null: a missing field does not match, and `not`
//!   over it is true (not the SQL `NOT NULL` that drops the row).

use arrow::datatypes::{DataType, Field};
use yaml_rust2::Yaml;

use super::Unsupported;

/// The JSON text columns: paths below them are searched inside the JSON.
const JSON_COLUMNS: [&str; 8] = [
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "addendum",
    "edgedevicedetails",
    "insightdetails",
    "unmapped",
];

/// What a field path reaches.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A typed column or struct field: its SQL and type.
    Column { sql: String, ty: DataType },
    /// A path inside a JSON text column (empty: the whole text).
    Json { column: String, path: String },
}

/// A field the lake has no column for: the decoder keeps such fields in `unmapped` (a JSON
/// list of `[json-pointer, value]`), where `sigma_match` finds them by pointer (`@/status`).
fn unmapped(segments: &[&str]) -> Target {
    let pointer: String = segments.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect();
    Target::Json { column: "unmapped".into(), path: format!("@{pointer}") }
}

/// Resolves a CloudTrail JSON field path against the lake's schema.
fn resolve(path: &str, at: &str) -> Result<Target, Unsupported> {
    let schema = lake::schema::cloudtrail_schema();
    let segments: Vec<&str> = path.split('.').collect();
    let unknown = || Unsupported::new(&format!("field {path:?}: not a CloudTrail field the lake has"), at);
    let first = segments[0].to_ascii_lowercase();
    let Some(field) = schema.fields().iter().find(|f| f.name() == &first && f.name() != "unmapped") else {
        // Not a CloudTrail field: an event that has it keeps it in `unmapped`.
        return Ok(unmapped(&segments));
    };
    let mut sql = field.name().clone();
    let mut current: &Field = field;
    for (i, seg) in segments.iter().enumerate().skip(1) {
        match current.data_type() {
            DataType::Struct(children) => {
                let lower = seg.to_ascii_lowercase();
                let Some(child) = children.iter().find(|c| c.name() == &lower) else {
                    return Ok(unmapped(&segments));
                };
                sql = format!("{sql}['{}']", child.name());
                current = child;
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View if is_json(current.name()) => {
                return Ok(Target::Json { column: sql, path: segments[i..].join(".") });
            }
            DataType::List(_) | DataType::LargeList(_) => {
                return Err(Unsupported::new(
                    &format!("field {path:?}: a path through the list column {}", current.name()),
                    at,
                ));
            }
            _ => return Err(unknown()),
        }
    }
    if is_json(current.name()) && segments.len() == 1 {
        // The whole JSON text, matched as text.
        return Ok(Target::Column { sql, ty: DataType::Utf8 });
    }
    Ok(Target::Column { sql, ty: current.data_type().clone() })
}

fn is_json(name: &str) -> bool {
    JSON_COLUMNS.contains(&name) || name == "attributes"
}

/// SQL text literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The column as text (booleans, numbers and timestamps as their text).
fn as_text(sql: &str, ty: &DataType) -> String {
    match ty {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => sql.to_string(),
        _ => format!("CAST({sql} AS VARCHAR)"),
    }
}

/// How a value is compared.
#[derive(Debug, Clone, Copy, Default)]
struct Mods {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    re: bool,
    re_flags: [bool; 3],
    cidr: bool,
    exists: bool,
    fieldref: bool,
    cased: bool,
}

fn mods(list: &[&str], at: &str) -> Result<Mods, Unsupported> {
    let mut m = Mods::default();
    for x in list {
        match *x {
            "contains" => m.contains = true,
            "startswith" => m.startswith = true,
            "endswith" => m.endswith = true,
            "all" => m.all = true,
            "re" => m.re = true,
            "i" if m.re => m.re_flags[0] = true,
            "m" if m.re => m.re_flags[1] = true,
            "s" if m.re => m.re_flags[2] = true,
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "fieldref" => m.fieldref = true,
            "cased" => m.cased = true,
            other => return Err(Unsupported::new(&format!("the modifier |{other}"), at)),
        }
    }
    Ok(m)
}

/// A Sigma scalar as text; `None` for null.
fn scalar(v: &Yaml, at: &str) -> Result<Option<String>, Unsupported> {
    Ok(Some(match v {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Real(r) => r.clone(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => return Ok(None),
        other => return Err(Unsupported::new(&format!("a value of this shape: {other:?}"), at)),
    }))
}

/// Unescaped literal text of a pattern without wildcards, or `None` when it has some.
fn literal(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => return None,
            '\\' => match chars.peek() {
                Some(&n) if n == '*' || n == '?' || n == '\\' => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// A Sigma pattern as an anchored regular expression (for case-sensitive wildcards).
fn pattern_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => match chars.peek() {
                Some(&n) if n == '*' || n == '?' || n == '\\' => {
                    out.push_str(&regex_escape(&n.to_string()));
                    chars.next();
                }
                _ => out.push_str("\\\\"),
            },
            c => out.push_str(&regex_escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

fn regex_escape(s: &str) -> String {
    s.chars().map(|c| if "\\.+*?()|[]{}^$#&-~".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

/// `a.b.c.d/n` or `x::/n` (or a bare address).
fn valid_cidr(s: &str) -> bool {
    let (addr, len) = s.trim().split_once('/').unwrap_or((s.trim(), "0"));
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len.parse::<u8>().is_ok_and(|l| l <= 32),
        Ok(std::net::IpAddr::V6(_)) => len.parse::<u8>().is_ok_and(|l| l <= 128),
        Err(_) => false,
    }
}

/// One field compared with one value.
fn leaf(target: &Target, m: &Mods, value: Option<&str>, at: &str) -> Result<String, Unsupported> {
    if m.exists {
        let want = match value {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(Unsupported::new("|exists with a value other than true or false", at)),
        };
        let present = match target {
            Target::Column { sql, .. } => format!("({sql} IS NOT NULL)"),
            Target::Json { column, path } => format!("sigma_match({column}, {}, 'exists', '')", quote(path)),
        };
        return Ok(if want { present } else { format!("(NOT {present})") });
    }
    let Some(value) = value else {
        return Ok(match target {
            Target::Column { sql, .. } => format!("({sql} IS NULL)"),
            Target::Json { column, path } => format!("sigma_match({column}, {}, 'null', '')", quote(path)),
        });
    };
    if m.fieldref {
        let other = match resolve(value, at)? {
            Target::Column { sql, ty } => as_text(&sql, &ty),
            Target::Json { column, path } => format!("sigma_value({column}, {})", quote(&path)),
        };
        let this = match target {
            Target::Column { sql, ty } => as_text(sql, ty),
            Target::Json { column, path } => format!("sigma_value({column}, {})", quote(path)),
        };
        return Ok(if m.cased {
            format!("coalesce({this} = {other}, false)")
        } else {
            format!("coalesce(lower({this}) = lower({other}), false)")
        });
    }
    if m.re {
        let flags: String = ['i', 'm', 's'].iter().zip(m.re_flags).filter(|(_, on)| *on).map(|(f, _)| *f).collect();
        let re = if flags.is_empty() { value.to_string() } else { format!("(?{flags}){value}") };
        if let Err(e) = regex::Regex::new(&re) {
            return Err(Unsupported::new(&format!("the regular expression {value:?} ({e})"), at));
        }
        return Ok(match target {
            Target::Column { sql, ty } => format!("coalesce(regexp_like({}, {}), false)", as_text(sql, ty), quote(&re)),
            Target::Json { column, path } => format!("sigma_match({column}, {}, 're', {})", quote(path), quote(&re)),
        });
    }
    if m.cidr {
        if !valid_cidr(value) {
            return Err(Unsupported::new(&format!("|cidr with {value:?}, not a CIDR block"), at));
        }
        return Ok(match target {
            Target::Column { sql, ty } => {
                format!("coalesce(cidr_match({}, {}), false)", as_text(sql, ty), quote(value))
            }
            Target::Json { column, path } => {
                format!("sigma_match({column}, {}, 'cidr', {})", quote(path), quote(value))
            }
        });
    }
    let pattern = format!(
        "{}{value}{}",
        if m.contains || m.endswith { "*" } else { "" },
        if m.contains || m.startswith { "*" } else { "" }
    );
    Ok(match target {
        Target::Json { column, path } => {
            format!(
                "sigma_match({column}, {}, {}, {})",
                quote(path),
                quote(if m.cased { "cased" } else { "eq" }),
                quote(&pattern)
            )
        }
        Target::Column { sql, ty } => {
            let text = as_text(sql, ty);
            let fold = |t: &str| if m.cased { t.to_string() } else { t.to_lowercase() };
            let col = if m.cased { text.clone() } else { format!("lower({text})") };
            // The common shapes in native SQL (vectorised); the rest through sigma_like.
            if let Some(lit) = literal(value) {
                // ASCII text without LIKE's own wildcards: ILIKE, which compares ignoring
                // ASCII case without lowering every row first (the lowering allocated a copy of
                // the column per comparison, a second of the Sigma pack's shared scan).
                if !m.cased && !m.contains && lit.is_ascii() && !lit.contains(['%', '_', '\\']) {
                    let like =
                        format!("{}{lit}{}", if m.endswith { "%" } else { "" }, if m.startswith { "%" } else { "" });
                    return Ok(format!("coalesce({text} ILIKE {}, false)", quote(&like)));
                }
                let lit = quote(&fold(&lit));
                match (m.contains, m.startswith, m.endswith) {
                    (true, _, _) => format!("coalesce(strpos({col}, {lit}) > 0, false)"),
                    (false, true, false) => format!("coalesce(starts_with({col}, {lit}), false)"),
                    (false, false, true) => format!("coalesce(ends_with({col}, {lit}), false)"),
                    _ => format!("coalesce({col} = {lit}, false)"),
                }
            } else if m.cased {
                format!("coalesce(regexp_like({text}, {}), false)", quote(&pattern_regex(&pattern)))
            } else {
                format!("sigma_like({text}, {})", quote(&pattern))
            }
        }
    })
}

/// A field's value as text (a correlation's `group-by` or `value_count` field): the typed
/// column cast to text, or the first value its JSON path reaches.
pub fn value(path: &str, at: &str) -> Result<String, Unsupported> {
    Ok(match resolve(path, at)? {
        Target::Column { sql, ty } => as_text(&sql, &ty),
        Target::Json { column, path } => format!("sigma_value({column}, {})", quote(&path)),
    })
}

/// One `field|modifiers: value(s)` entry of a selection.
fn entry(key: &str, value: &Yaml, at: &str) -> Result<String, Unsupported> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    if field.is_empty() {
        return Err(Unsupported::new("a keyword search (values without a field)", at));
    }
    let m = mods(&parts.collect::<Vec<_>>(), at)?;
    let target = resolve(field, at)?;
    let values: Vec<Option<String>> = match value {
        Yaml::Array(items) => items.iter().map(|v| scalar(v, at)).collect::<Result<_, _>>()?,
        v => vec![scalar(v, at)?],
    };
    if values.is_empty() {
        return Ok("false".into());
    }
    let leaves: Vec<String> = values.iter().map(|v| leaf(&target, &m, v.as_deref(), at)).collect::<Result<_, _>>()?;
    Ok(if leaves.len() == 1 {
        leaves.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", leaves.join(if m.all { " AND " } else { " OR " }))
    })
}

/// A named selection: a map (all of its entries), or a list of maps (any of them).
pub fn selection(name: &str, y: &Yaml) -> Result<String, Unsupported> {
    let at = format!("detection.{name}");
    match y {
        Yaml::Hash(map) => {
            let mut terms = Vec::new();
            for (k, v) in map {
                let Yaml::String(k) = k else {
                    return Err(Unsupported::new(&format!("a field name of this shape: {k:?}"), &at));
                };
                terms.push(entry(k, v, &format!("{at}.{k}"))?);
            }
            if terms.is_empty() {
                return Err(Unsupported::new("an empty selection", &at));
            }
            Ok(if terms.len() == 1 { terms.remove(0) } else { format!("({})", terms.join(" AND ")) })
        }
        Yaml::Array(items) if items.iter().all(|i| matches!(i, Yaml::Hash(_))) && !items.is_empty() => {
            let maps: Vec<String> = items.iter().map(|i| selection(name, i)).collect::<Result<_, _>>()?;
            Ok(format!("({})", maps.join(" OR ")))
        }
        Yaml::Array(_) | Yaml::String(_) => Err(Unsupported::new("a keyword search (values without a field)", &at)),
        other => Err(Unsupported::new(&format!("a selection of this shape: {other:?}"), &at)),
    }
}

/// What a selection implies about typed columns alone (`eventsource`, `eventname`,
/// `useridentity.type`, ...; no search inside JSON text): a cheap test a scan can make
/// before the JSON columns are read. `true` when it implies nothing of them.
pub fn prefilter(name: &str, y: &Yaml) -> Result<String, Unsupported> {
    let at = format!("detection.{name}");
    match y {
        Yaml::Hash(map) => {
            let mut terms = Vec::new();
            for (k, v) in map {
                let Yaml::String(k) = k else { continue };
                let field = k.split('|').next().unwrap_or_default();
                let fieldref = k.split('|').any(|m| m == "fieldref");
                if !field.is_empty() && !fieldref && matches!(resolve(field, &at), Ok(Target::Column { .. })) {
                    terms.push(entry(k, v, &format!("{at}.{k}"))?);
                }
            }
            Ok(join_implied(terms, " AND "))
        }
        Yaml::Array(items) if items.iter().all(|i| matches!(i, Yaml::Hash(_))) && !items.is_empty() => {
            let maps: Vec<String> = items.iter().map(|i| prefilter(name, i)).collect::<Result<_, _>>()?;
            Ok(join_implied(maps, " OR "))
        }
        _ => Ok("true".into()),
    }
}

/// The event names (lowercase) a selection can match: `eventName` compared with plain
/// values (no wildcards or modifiers), or any.
pub fn names(y: &Yaml) -> super::condition::Names {
    use super::condition::{Logic, Names};
    match y {
        Yaml::Hash(map) => {
            let mut parts = Vec::new();
            for (k, v) in map {
                let Yaml::String(k) = k else { continue };
                if !k.eq_ignore_ascii_case("eventName") {
                    continue;
                }
                let values: Vec<&Yaml> = match v {
                    Yaml::Array(items) => items.iter().collect(),
                    v => vec![v],
                };
                let plain: Option<std::collections::BTreeSet<String>> = values
                    .iter()
                    .map(|v| match v {
                        Yaml::String(s) => literal(s).map(|l| l.to_lowercase()),
                        _ => None,
                    })
                    .collect();
                if let Some(set) = plain.filter(|s| !s.is_empty()) {
                    parts.push(Names::OneOf(set));
                }
            }
            Names::all(parts)
        }
        Yaml::Array(items) if items.iter().all(|i| matches!(i, Yaml::Hash(_))) && !items.is_empty() => {
            Names::any(items.iter().map(names).collect())
        }
        _ => Names::Any,
    }
}

/// Joins conditions that are each implied (`true`: nothing known) with AND or OR.
pub(crate) fn join_implied(parts: Vec<String>, join: &str) -> String {
    let known: Vec<String> = parts.iter().filter(|p| p.as_str() != "true").cloned().collect();
    if known.is_empty() || (join == " OR " && known.len() < parts.len()) {
        return "true".into();
    }
    if known.len() == 1 { known.into_iter().next().unwrap_or_default() } else { format!("({})", known.join(join)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_resolve_to_typed_columns_or_json_paths() {
        assert_eq!(resolve("eventName", "x").unwrap(), Target::Column { sql: "eventname".into(), ty: DataType::Utf8 });
        let Target::Column { sql, .. } = resolve("userIdentity.sessionContext.sessionIssuer.type", "x").unwrap() else {
            panic!()
        };
        assert_eq!(sql, "useridentity['sessioncontext']['sessionissuer']['type']");
        assert_eq!(
            resolve("requestParameters.ipPermissions.items.ipRanges.cidrIP", "x").unwrap(),
            Target::Json { column: "requestparameters".into(), path: "ipPermissions.items.ipRanges.cidrIP".into() }
        );
        assert_eq!(
            resolve("status", "x").unwrap(),
            Target::Json { column: "unmapped".into(), path: "@/status".into() },
            "a field CloudTrail does not write is looked for where the decoder keeps unknown fields"
        );
        assert_eq!(
            resolve("userIdentity.newThing.a", "x").unwrap(),
            Target::Json { column: "unmapped".into(), path: "@/userIdentity/newThing/a".into() }
        );
    }

    #[test]
    fn values_become_two_valued_sql() {
        let t = resolve("eventName", "x").unwrap();
        let m = Mods::default();
        assert_eq!(leaf(&t, &m, Some("ListBuckets"), "x").unwrap(), "coalesce(eventname ILIKE 'ListBuckets', false)");
        let starts = Mods { startswith: true, ..Mods::default() };
        assert_eq!(leaf(&t, &starts, Some("Get"), "x").unwrap(), "coalesce(eventname ILIKE 'Get%', false)");
        // LIKE's own wildcards and non-ASCII text: lowered and compared.
        assert_eq!(leaf(&t, &m, Some("a_b"), "x").unwrap(), "coalesce(lower(eventname) = 'a_b', false)");
        assert_eq!(leaf(&t, &m, Some("Ärger"), "x").unwrap(), "coalesce(lower(eventname) = 'ärger', false)");
        assert_eq!(leaf(&t, &m, Some("Get*"), "x").unwrap(), "sigma_like(eventname, 'Get*')");
        assert_eq!(leaf(&t, &m, None, "x").unwrap(), "(eventname IS NULL)");
        let contains = Mods { contains: true, ..Mods::default() };
        assert_eq!(
            leaf(&t, &contains, Some("O'Brien"), "x").unwrap(),
            "coalesce(strpos(lower(eventname), 'o''brien') > 0, false)"
        );
        assert!(leaf(&t, &Mods { exists: true, ..Mods::default() }, Some("maybe"), "x").is_err());
    }

    #[test]
    fn unknown_modifiers_and_keyword_searches_are_named() {
        let e = entry("eventName|base64offset", &Yaml::String("x".into()), "detection.sel.eventName|base64offset")
            .unwrap_err();
        assert!(e.construct.contains("|base64offset") && e.at.contains("detection.sel"), "{e:?}");
        let e = selection("keywords", &Yaml::Array(vec![Yaml::String("evil".into())])).unwrap_err();
        assert!(e.construct.contains("keyword"), "{e:?}");
    }
}
