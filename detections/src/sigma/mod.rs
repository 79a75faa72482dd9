//! Sigma rules as trailhouse rules: a Sigma rule file (`*.yml`, `logsource: {product: aws,
//! service: cloudtrail}`) compiled to the lake's SQL ([`compile`], [`condition`]), its
//! metadata carried over (title, level as severity, ATT&CK tags as tactics and technique
//! ids, `falsepositives` as triage notes, references, author, license), and its tests read
//! from `<rule>.tests.toml` beside it (the TOML rules' `[[test]]` format).
//!
//! A construct the compiler does not support is an [`Unsupported`] naming it and where it
//! is (`detection.selection.eventName|base64offset`, line 12); the caller reports it with
//! the rule's file and loads the other rules.

pub mod compile;
pub mod condition;

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use crate::rule::{Dedup, Rule, RuleTest, Severity, Tactic};

/// What a Sigma rule uses that the compiler does not support, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub construct: String,
    /// The path in the rule (`detection.selection.eventName|re`).
    pub at: String,
}

impl Unsupported {
    pub fn new(construct: &str, at: &str) -> Unsupported {
        Unsupported { construct: construct.to_string(), at: at.to_string() }
    }

    /// `construct at path (line N)`, the line found in the rule's text when it can be.
    pub fn describe(&self, text: &str) -> String {
        let last = self.at.rsplit('.').next().unwrap_or_default();
        let line = text.lines().position(|l| !last.is_empty() && l.trim_start().starts_with(&format!("{last}:")));
        match line {
            Some(n) => format!("unsupported Sigma construct: {} at {} (line {})", self.construct, self.at, n + 1),
            None => format!("unsupported Sigma construct: {} at {}", self.construct, self.at),
        }
    }
}

/// What the pack shows of a Sigma rule besides the usual fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigmaMeta {
    /// The rule's own id (a UUID).
    pub id: String,
    pub level: String,
    pub status: String,
    pub author: String,
    /// The license the rule is distributed under.
    pub license: String,
    /// The file it was loaded from.
    pub file: String,
}

/// The license of SigmaHQ's rules.
pub const SIGMAHQ_LICENSE: &str = "DRL-1.1 (Detection Rule License, https://github.com/SigmaHQ/Detection-Rule-License)";

/// The `license` a Sigma rule states for itself, if any.
pub fn license_of(text: &str) -> Option<String> {
    let docs = YamlLoader::load_from_str(text).ok()?;
    docs.first().and_then(|d| text_of(&d["license"]))
}

fn text_of(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list_of(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(items) => items.iter().filter_map(text_of).collect(),
        other => text_of(other).into_iter().collect(),
    }
}

/// The trailhouse id of a Sigma rule file: `sigma-` and its file name in lowercase, `_` as `-`.
pub fn rule_id(file_stem: &str) -> String {
    let mut id = String::from("sigma-");
    for c in file_stem.chars() {
        id.push(match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '.' | '-' => c,
            _ => '-',
        });
    }
    id
}

/// The ATT&CK tactic of a Sigma `attack.<tactic>` tag (v18's `stealth` and
/// `defense-impairment` are what Defense Evasion was).
fn tactic(tag: &str) -> Option<Tactic> {
    Some(match tag {
        "initial-access" => Tactic::InitialAccess,
        "execution" => Tactic::Execution,
        "persistence" => Tactic::Persistence,
        "privilege-escalation" => Tactic::PrivilegeEscalation,
        "defense-evasion" | "stealth" | "defense-impairment" => Tactic::DefenseEvasion,
        "credential-access" => Tactic::CredentialAccess,
        "discovery" => Tactic::Discovery,
        "lateral-movement" => Tactic::LateralMovement,
        "collection" => Tactic::Collection,
        "exfiltration" => Tactic::Exfiltration,
        "impact" => Tactic::Impact,
        _ => return None,
    })
}

/// Why a Sigma file is not a rule: unreadable YAML, not a CloudTrail rule, or a construct
/// the compiler does not support.
pub fn parse(text: &str, file: &str, tests: Vec<RuleTest>, license: &str) -> Result<Rule, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let [doc] = docs.as_slice() else {
        return Err(Unsupported::new("several YAML documents in one rule (action: global)", "").describe(text));
    };
    let get = |k: &str| &doc[k];
    if !matches!(get("correlation"), Yaml::BadValue) {
        return Err(Unsupported::new("a correlation rule", "correlation").describe(text));
    }
    let logsource = get("logsource");
    let (product, service) = (text_of(&logsource["product"]), text_of(&logsource["service"]));
    if product.as_deref() != Some("aws") || service.as_deref() != Some("cloudtrail") {
        return Err(Unsupported::new(
            &format!(
                "logsource {}/{} (only aws/cloudtrail is in the lake)",
                product.unwrap_or_default(),
                service.unwrap_or_default()
            ),
            "logsource",
        )
        .describe(text));
    }
    let detection = get("detection");
    let Yaml::Hash(sections) = detection else {
        return Err("no detection section".into());
    };
    let mut selections = BTreeMap::new();
    let mut conditions = Vec::new();
    for (k, v) in sections {
        let Some(name) = text_of(k) else { continue };
        match name.as_str() {
            "condition" => conditions = list_of(v),
            "timeframe" => {
                return Err(Unsupported::new("timeframe (Sigma 1 aggregations)", "detection.timeframe").describe(text));
            }
            _ => {
                selections.insert(name.clone(), compile::selection(&name, v).map_err(|e| e.describe(text))?);
            }
        }
    }
    if conditions.is_empty() {
        return Err("detection has no condition".into());
    }
    let compiled: Vec<String> = conditions
        .iter()
        .map(|c| condition::compile(c, &selections, "detection.condition"))
        .collect::<Result<_, _>>()
        .map_err(|e| e.describe(text))?;
    let filter = if compiled.len() == 1 { compiled[0].clone() } else { format!("({})", compiled.join(" OR ")) };

    let stem = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
    let level = text_of(get("level")).unwrap_or_else(|| "medium".into());
    let severity = match level.as_str() {
        "informational" => Severity::Info,
        "low" => Severity::Low,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => Severity::Medium,
    };
    let tags = list_of(get("tags"));
    let mut tactics: Vec<Tactic> = Vec::new();
    let mut mitre: Vec<String> = Vec::new();
    for t in &tags {
        let Some(rest) = t.strip_prefix("attack.") else { continue };
        if let Some(tech) = rest.strip_prefix('t').filter(|r| r.starts_with(|c: char| c.is_ascii_digit())) {
            mitre.push(format!("T{}", tech.to_ascii_uppercase()));
        } else if let Some(t) = tactic(rest)
            && !tactics.contains(&t)
        {
            tactics.push(t);
        }
    }
    let author = text_of(get("author")).unwrap_or_default();
    let sigma_id = text_of(get("id")).unwrap_or_default();
    let status = text_of(get("status")).unwrap_or_default();
    let falsepositives = list_of(get("falsepositives"));
    let description = format!(
        "{}\n\nSigma rule {sigma_id} ({status}) by {author}, {file}; license {license}.",
        text_of(get("description")).unwrap_or_default().trim()
    );
    let triage = if falsepositives.is_empty() {
        "The Sigma rule lists no false positives.".to_string()
    } else {
        format!("False positives (from the Sigma rule): {}.", falsepositives.join("; "))
    };
    Ok(Rule {
        id: rule_id(stem),
        title: text_of(get("title")).unwrap_or_else(|| stem.to_string()),
        severity,
        description,
        triage,
        tactics,
        mitre,
        controls: vec![],
        references: list_of(get("references")),
        sql: format!("SELECT * FROM events WHERE {filter}"),
        dedup: Dedup {
            key: vec!["recipientaccountid".into(), "principal".into(), "eventname".into()],
            window: "1h".into(),
        },
        threshold: None,
        lookback: None,
        baselines: vec![],
        tests,
        sigma: Some(SigmaMeta {
            id: sigma_id,
            level,
            status,
            author,
            license: license.to_string(),
            file: file.to_string(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
title: AWS EnableRegion Command Monitoring
id: a5ffb6ea-c784-4e01-b30a-deb6e58ca2ab
status: test
description: Detects the use of the EnableRegion command.
author: Sergio
references:
    - https://example.com
tags:
    - attack.defense-impairment
    - attack.t1562.008
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: 'account.amazonaws.com'
        eventName: 'EnableRegion'
    filter:
        userIdentity.type: 'AssumedRole'
    condition: selection and not filter
falsepositives:
    - Legitimate use
level: medium
"#;

    #[test]
    fn a_sigma_rule_becomes_a_rule_with_its_metadata() {
        let r = parse(RULE, "aws_enable_region.yml", vec![], SIGMAHQ_LICENSE).unwrap();
        assert_eq!(r.id, "sigma-aws-enable-region");
        assert_eq!(
            (r.severity, r.tactics.clone(), r.mitre.clone()),
            (Severity::Medium, vec![Tactic::DefenseEvasion], vec!["T1562.008".to_string()])
        );
        assert!(
            r.triage.contains("Legitimate use")
                && r.description.contains("Sergio")
                && r.description.contains("DRL-1.1")
        );
        assert_eq!(
            r.sql,
            "SELECT * FROM events WHERE ((coalesce(lower(eventsource) = 'account.amazonaws.com', false) AND coalesce(lower(eventname) = 'enableregion', false)) AND (NOT coalesce(lower(useridentity['type']) = 'assumedrole', false)))"
        );
    }

    #[test]
    fn an_unsupported_construct_names_itself_and_its_line() {
        let bad = RULE.replace("eventName: 'EnableRegion'", "eventName|base64offset: 'EnableRegion'");
        let e = parse(&bad, "x.yml", vec![], SIGMAHQ_LICENSE).unwrap_err();
        assert!(e.contains("|base64offset") && e.contains("detection.selection.eventName|base64offset"), "{e}");
        assert!(e.contains("line 18"), "{e}");
        let other = RULE.replace("service: cloudtrail", "service: guardduty");
        assert!(parse(&other, "x.yml", vec![], SIGMAHQ_LICENSE).unwrap_err().contains("only aws/cloudtrail"));
    }
}
