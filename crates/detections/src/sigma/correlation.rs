//! Sigma correlation rules (`correlation:` documents) as threshold rules.
//!
//! | Sigma | trailhouse |
//! |---|---|
//! | `event_count`, `condition: {gte: N}` (or `gt: N-1`) | `threshold = { count = N, window = timespan }` |
//! | `value_count`, `condition: {field: F, gte: N}` | the same, counting distinct values of `F` |
//! | `temporal` (all, or `condition: {gte: N}` of the rules) | distinct matched rules within `timespan` |
//! | `group-by` (with `aliases`) | the threshold's key and the alert's dedup key |
//!
//! The correlated rules' conditions run as one query (`UNION ALL`, each row labelled with
//! its rule in `sigma_rule`), so an event matching two of them counts for both. Windows
//! slide (they are not fixed buckets), as the specification prefers. Not supported, and
//! reported as such: `temporal_ordered`, upper bounds (`lt`, `lte`, `eq`, ranges: the
//! engine fires when a count reaches a threshold), and correlations of correlations.

use std::collections::BTreeMap;

use yaml_rust2::Yaml;

use super::{IDENTITY, IDENTITY_SQL, Meta, Unsupported, compile, list_of, text_of};
use crate::rule::{Dedup, Rule, RuleTest, Tactic, Threshold};

/// The column naming which correlated rule a row matched.
pub const RULE_LABEL: &str = "sigma_rule";

/// What is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Events.
    EventCount,
    /// Distinct values of a field.
    ValueCount { field: String },
    /// Distinct correlated rules.
    Temporal,
}

/// A parsed correlation document.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub name: Option<String>,
    pub kind: Kind,
    /// The rules it correlates, by name or id, as written.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan: String,
    /// At least this many (events, values or rules); `None`: every correlated rule (temporal).
    pub count: Option<usize>,
    /// alias -> (rule name -> field).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// Whether the correlated rules also alert on their own.
    pub generate: bool,
    pub(crate) meta: Meta,
    pub tests: Vec<RuleTest>,
}

/// One correlated rule, found by [`super::link`].
#[derive(Debug, Clone)]
pub struct Part {
    /// How the correlation names it.
    pub label: String,
    /// Its `name`, if it has one (aliases are keyed by it).
    pub name: Option<String>,
    pub filter: String,
    pub rule: Rule,
}

pub(crate) fn parse(doc: &Yaml, text: &str, meta: Meta, tests: Vec<RuleTest>) -> Result<Correlation, String> {
    let c = &doc["correlation"];
    let err = |what: &str, at: &str| Unsupported::new(what, at).describe(text);
    let kind_text = text_of(&c["type"]).unwrap_or_default();
    let cond = &c["condition"];
    let kind = match kind_text.as_str() {
        "event_count" => Kind::EventCount,
        "value_count" => {
            let Some(field) = text_of(&cond["field"]) else {
                return Err("correlation.condition: value_count needs a field".into());
            };
            Kind::ValueCount { field }
        }
        "temporal" => Kind::Temporal,
        "temporal_ordered" => {
            return Err(err(
                "temporal_ordered (the order of the correlated events is not checked)",
                "correlation.type",
            ));
        }
        other => return Err(err(&format!("correlation type {other:?}"), "correlation.type")),
    };
    let mut count = None;
    match cond {
        Yaml::Hash(map) => {
            for (k, v) in map {
                let k = text_of(k).unwrap_or_default();
                let n = match v {
                    Yaml::Integer(n) if *n >= 0 => *n as usize,
                    _ if k == "field" => continue,
                    _ => return Err(format!("correlation.condition.{k}: not a count")),
                };
                match k.as_str() {
                    "gte" => count = Some(n),
                    "gt" => count = Some(n + 1),
                    "lt" | "lte" | "eq" => {
                        return Err(err(
                            &format!(
                                "condition {k} (an upper bound: the engine fires when a count reaches a threshold)"
                            ),
                            &format!("correlation.condition.{k}"),
                        ));
                    }
                    other => return Err(err(&format!("condition {other}"), &format!("correlation.condition.{other}"))),
                }
            }
            if count.is_none() && kind != Kind::Temporal {
                return Err("correlation.condition: give gte or gt".into());
            }
        }
        Yaml::BadValue if kind == Kind::Temporal => {}
        _ => return Err("correlation.condition: a map such as {gte: 10}".into()),
    }
    let timespan = text_of(&c["timespan"]).ok_or("correlation: no timespan")?;
    if lake::time::parse_duration(&timespan).is_none_or(|t| t <= 0) {
        return Err(format!("correlation.timespan {timespan:?} is not a duration (10m, 1h, 1d)"));
    }
    let rules = list_of(&c["rules"]);
    if rules.is_empty() {
        return Err("correlation.rules: name at least one rule".into());
    }
    let mut aliases = BTreeMap::new();
    if let Yaml::Hash(map) = &c["aliases"] {
        for (alias, per_rule) in map {
            let mut fields = BTreeMap::new();
            if let Yaml::Hash(m) = per_rule {
                for (r, f) in m {
                    if let (Some(r), Some(f)) = (text_of(r), text_of(f)) {
                        fields.insert(r, f);
                    }
                }
            }
            aliases.insert(text_of(alias).unwrap_or_default(), fields);
        }
    }
    Ok(Correlation {
        name: text_of(&doc["name"]),
        kind,
        rules,
        group_by: list_of(&c["group-by"]),
        timespan,
        count,
        aliases,
        generate: matches!(doc["generate"], Yaml::Boolean(true)) || matches!(c["generate"], Yaml::Boolean(true)),
        meta,
        tests,
    })
}

/// A column name for a field (`group_useridentity_arn`).
fn column(prefix: &str, field: &str) -> String {
    let mut out = String::from(prefix);
    for c in field.chars() {
        out.push(if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' });
    }
    out
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Correlation {
    /// The rule: the parts' conditions in one query, counted per group within the timespan.
    pub fn rule(&self, parts: &[Part]) -> Result<Rule, Unsupported> {
        let value_column = match &self.kind {
            Kind::ValueCount { field } => Some(column("value_", field)),
            _ => None,
        };
        let group_columns: Vec<String> = self.group_by.iter().map(|g| column("group_", g)).collect();
        let mut branches = Vec::new();
        for part in parts {
            let mut select = vec!["*".to_string(), format!("{IDENTITY_SQL} AS {IDENTITY}")];
            for (g, col) in self.group_by.iter().zip(&group_columns) {
                let field = match self.aliases.get(g) {
                    Some(per_rule) => {
                        let key = part.name.as_deref().unwrap_or(&part.label);
                        per_rule.get(key).or_else(|| per_rule.get(&part.label)).ok_or_else(|| {
                            Unsupported::new(
                                &format!("alias {g} gives no field for rule {}", part.label),
                                &format!("correlation.aliases.{g}"),
                            )
                        })?
                    }
                    None => g,
                };
                select.push(format!("{} AS {col}", compile::value(field, &format!("correlation.group-by.{g}"))?));
            }
            if let (Kind::ValueCount { field }, Some(col)) = (&self.kind, &value_column) {
                select.push(format!("{} AS {col}", compile::value(field, "correlation.condition.field")?));
            }
            select.push(format!("{} AS {RULE_LABEL}", quote(&part.label)));
            branches.push(format!("SELECT {} FROM events WHERE {}", select.join(", "), part.filter));
        }
        let mut key = group_columns;
        if key.is_empty() {
            // No group-by: one group.
            key.push("correlation".into());
            for b in &mut branches {
                *b = b.replacen("SELECT *,", "SELECT *, 'all' AS correlation,", 1);
            }
        }
        let sql = branches.join("\nUNION ALL\n");
        let needed = match (&self.kind, self.count) {
            (Kind::Temporal, None) => parts.iter().map(|p| &p.label).collect::<std::collections::BTreeSet<_>>().len(),
            (_, Some(n)) => n,
            (_, None) => 1,
        };
        let distinct = match &self.kind {
            Kind::EventCount => None,
            Kind::ValueCount { .. } => value_column,
            Kind::Temporal => Some(RULE_LABEL.to_string()),
        };
        let threshold = (needed >= 2).then(|| Threshold {
            count: needed,
            window: self.timespan.clone(),
            distinct: distinct.clone(),
        });
        let mut meta = self.meta.clone();
        // The correlation's own level and tags, else the strongest and all of its rules'.
        if meta.level.is_none() {
            let strongest = parts.iter().map(|p| p.rule.severity).max();
            if let Some(p) = parts.iter().find(|p| Some(p.rule.severity) == strongest) {
                meta.sigma.level = p.rule.sigma.as_ref().map_or(meta.sigma.level.clone(), |s| s.level.clone());
            }
        }
        if meta.tactics.is_empty() {
            let mut t: Vec<Tactic> = parts.iter().flat_map(|p| p.rule.tactics.clone()).collect();
            t.sort();
            t.dedup();
            meta.tactics = t;
        }
        if meta.mitre.is_empty() {
            let mut m: Vec<String> = parts.iter().flat_map(|p| p.rule.mitre.clone()).collect();
            m.sort();
            m.dedup();
            meta.mitre = m;
        }
        let mut rule = meta.rule(sql, Dedup { key, window: self.timespan.clone() }, self.tests.clone());
        rule.threshold = threshold;
        Ok(rule)
    }
}
