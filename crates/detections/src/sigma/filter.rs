//! Sigma filters (pySigma's `filter:` documents): "these rules, but not for events like
//! these", loaded as exceptions ([`crate::exception`]) instead of edits to the rules.
//!
//! ```yaml
//! title: The nightly backup role's trail changes
//! description: The backup role updates the trail's bucket policy every night.
//! logsource: {product: aws, service: cloudtrail}
//! filter:
//!   rules:
//!     - 4db60cc0-36fb-42b7-9b58-a5b53019fb74     # a Sigma rule's id, or a rule id
//!   selection:
//!     userIdentity.sessionContext.sessionIssuer.userName: backup-role
//!   condition: not selection
//! ```
//!
//! The selections compile as a rule's do (the same field paths and modifiers); the
//! condition must be `not <expression>`, and the expression becomes the exception's event
//! condition: an alert of a listed rule is suppressed when every one of its events matches.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use super::{Unsupported, compile, condition, list_of, text_of};

/// A parsed Sigma filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigmaFilter {
    pub title: String,
    pub description: String,
    /// The rules it applies to: Sigma ids (UUIDs), or rule ids.
    pub rules: Vec<String>,
    /// SQL over a `cloudtrail` row: the events the rules should not alert on.
    pub events: String,
}

/// Parses a Sigma filter file; errors say what is wrong and where (the line, when found).
pub fn parse(text: &str) -> Result<SigmaFilter, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let [doc] = docs.as_slice() else { return Err("a Sigma filter is one YAML document".into()) };
    let filter = &doc["filter"];
    let Yaml::Hash(sections) = filter else {
        return Err("not a Sigma filter: no `filter:` section (a rule's `detection:` belongs in a rule file)".into());
    };
    let logsource = &doc["logsource"];
    if !matches!(logsource, Yaml::BadValue)
        && (text_of(&logsource["product"]).as_deref() != Some("aws")
            || text_of(&logsource["service"]).as_deref() != Some("cloudtrail"))
    {
        return Err(Unsupported::new("a logsource other than aws/cloudtrail", "logsource").describe(text));
    }
    let mut selections = BTreeMap::new();
    let mut rules = Vec::new();
    let mut conditions = Vec::new();
    for (k, v) in sections {
        let Some(name) = text_of(k) else { continue };
        match name.as_str() {
            "rules" => rules = list_of(v),
            "condition" => conditions = list_of(v),
            _ => {
                selections.insert(name.clone(), compile::selection(&name, v).map_err(|e| e.describe(text))?);
            }
        }
    }
    if rules.is_empty() {
        return Err("filter.rules lists no rule: name the rules it applies to (Sigma ids or rule ids)".into());
    }
    let [cond] = conditions.as_slice() else {
        return Err("filter.condition must be one condition, `not <selection>`".into());
    };
    let Some(kept) = cond.trim().strip_prefix("not ") else {
        return Err(Unsupported::new(
            &format!("filter condition {cond:?} (a filter's condition is `not <expression>`)"),
            "filter.condition",
        )
        .describe(text));
    };
    let events: String =
        condition::compile(kept.trim(), &selections, "filter.condition").map_err(|e| e.describe(text))?;
    Ok(SigmaFilter {
        title: text_of(&doc["title"]).unwrap_or_else(|| "Sigma filter".into()),
        description: text_of(&doc["description"]).unwrap_or_default().trim().to_string(),
        rules,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_compiles_to_the_events_it_excludes_and_names_its_rules() {
        let f = parse(
            "title: Backups\nlogsource:\n  product: aws\n  service: cloudtrail\nfilter:\n  rules:\n    - 4db60cc0-36fb-42b7-9b58-a5b53019fb74\n  selection:\n    userIdentity.sessionContext.sessionIssuer.userName: backup-role\n    sourceIPAddress|startswith: '10.'\n  condition: not selection\n",
        )
        .unwrap();
        assert_eq!(f.rules, ["4db60cc0-36fb-42b7-9b58-a5b53019fb74"]);
        assert!(f.events.contains("backup-role") && f.events.contains("sourceipaddress"), "{}", f.events);
        let bad = |t: &str| parse(t).unwrap_err();
        assert!(bad("title: x\ndetection:\n  a: {eventName: X}\n  condition: a\n").contains("no `filter:`"));
        assert!(bad("filter:\n  rules: [r]\n  s: {eventName: X}\n  condition: s\n").contains("not <expression>"));
        assert!(bad("filter:\n  s: {eventName: X}\n  condition: not s\n").contains("lists no rule"));
        assert!(
            bad("filter:\n  rules: [r]\n  s: {eventName|base64offset: X}\n  condition: not s\n")
                .contains("unsupported")
        );
    }
}
