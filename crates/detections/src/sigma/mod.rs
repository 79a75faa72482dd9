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
pub mod correlation;
pub mod filter;

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
    /// The compiled condition, when the rule is only that over `events` (a detection, not a
    /// correlation): such rules are evaluated together, in one scan
    /// ([`crate::engine::evaluate_filters`]).
    pub filter: Option<String>,
    /// What `filter` implies about typed columns alone (`true` when nothing): the shared
    /// scan reads the JSON columns only for rows where some rule's prefilter holds.
    pub prefilter: Option<String>,
    /// The event names (lowercase) the rule can match, when its condition says (`None`:
    /// any): the shared scan first keeps the rows with one of the pack's names.
    pub event_names: Option<std::collections::BTreeSet<String>>,
}

/// The license of SigmaHQ's rules.
pub const SIGMAHQ_LICENSE: &str = "DRL-1.1 (Detection Rule License, https://github.com/SigmaHQ/Detection-Rule-License)";

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

/// The column a Sigma rule's SQL adds: who acted, without the session (an assumed role's
/// role ARN, otherwise the principal's name).
pub const IDENTITY: &str = "identity";
pub const IDENTITY_SQL: &str = "coalesce(useridentity.sessioncontext.sessionissuer.arn, principal(useridentity))";

/// Sigma says nothing of deduplication: one alert per rule, account, identity (a role, not
/// each of its sessions) and day. A rule matching every call of a busy role (SigmaHQ's
/// AssumeRole misuse) is one alert a day for that role, its event count and event names on
/// the alert, instead of one per session and hour.
fn default_dedup() -> Dedup {
    Dedup { key: vec!["recipientaccountid".into(), IDENTITY.into()], window: "1d".into() }
}

/// One compiled YAML document of a Sigma file.
#[derive(Debug, Clone)]
pub enum Document {
    /// A detection rule: its `name` (what correlations call it by), its compiled condition
    /// and the rule it is on its own.
    Detection { name: Option<String>, filter: String, rule: Box<Rule> },
    /// A correlation over detection rules (see [`correlation`]).
    Correlation(Box<correlation::Correlation>),
}

/// A single-document Sigma rule as a rule (see [`parse_file`] for files with correlations).
pub fn parse(text: &str, file: &str, tests: Vec<RuleTest>, license: &str) -> Result<Rule, String> {
    let stem = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file);
    let (rules, problems) = link(vec![parse_file(text, file, tests, license)?]);
    match (rules.len(), problems.into_iter().next()) {
        (_, Some(problem)) => Err(problem),
        (1, None) => Ok(rules.into_iter().next().expect("one")),
        _ => Err(format!("{stem}: expected one rule")),
    }
}

/// A Sigma file's documents. Several documents are a correlation and the rules it
/// correlates; the tests (`<rule>.tests.toml`) belong to the correlation then.
pub fn parse_file(text: &str, file: &str, tests: Vec<RuleTest>, license: &str) -> Result<SigmaFile, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let has_correlation = docs.iter().any(|d| !matches!(d["correlation"], Yaml::BadValue));
    if docs.len() > 1 && !has_correlation {
        return Err(
            Unsupported::new("several YAML documents without a correlation (action: global)", "").describe(text)
        );
    }
    let stem = std::path::Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or(file).to_string();
    let several = docs.len() > 1;
    let correlations = docs.iter().filter(|d| !matches!(d["correlation"], Yaml::BadValue)).count();
    let mut tests = Some(tests);
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let name = text_of(&doc["name"]);
        let is_correlation = !matches!(doc["correlation"], Yaml::BadValue);
        // One rule per file keeps the file's name; the parts of a correlation file add theirs.
        let id_stem = if !several || (is_correlation && correlations == 1) {
            stem.clone()
        } else {
            format!("{stem}-{}", name.clone().unwrap_or_else(|| (i + 1).to_string()))
        };
        let doc_tests = if is_correlation || !several { tests.take().unwrap_or_default() } else { vec![] };
        let meta = Meta::read(doc, file, license, &id_stem);
        out.push(if is_correlation {
            Document::Correlation(Box::new(correlation::parse(doc, text, meta, doc_tests)?))
        } else {
            let (filter, rule) = detection(doc, text, meta, doc_tests)?;
            Document::Detection { name, filter, rule: Box::new(rule) }
        });
    }
    Ok(SigmaFile { file: file.to_string(), text: text.to_string(), documents: out })
}

/// A parsed Sigma file.
#[derive(Debug, Clone)]
pub struct SigmaFile {
    pub file: String,
    pub text: String,
    pub documents: Vec<Document>,
}

/// What every Sigma document carries: title, level, tags, author and so on.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub id: String,
    pub title: String,
    pub level: Option<String>,
    pub tactics: Vec<Tactic>,
    pub mitre: Vec<String>,
    pub description: String,
    pub falsepositives: Vec<String>,
    pub references: Vec<String>,
    pub sigma: SigmaMeta,
}

impl Meta {
    fn read(doc: &Yaml, file: &str, license: &str, id_stem: &str) -> Meta {
        let get = |k: &str| &doc[k];
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
        let level = text_of(get("level"));
        let license = text_of(get("license")).unwrap_or_else(|| license.to_string());
        Meta {
            id: rule_id(id_stem),
            title: text_of(get("title")).unwrap_or_else(|| id_stem.to_string()),
            tactics,
            mitre,
            description: text_of(get("description")).unwrap_or_default().trim().to_string(),
            falsepositives: list_of(get("falsepositives")),
            references: list_of(get("references")),
            sigma: SigmaMeta {
                id: text_of(get("id")).unwrap_or_default(),
                level: level.clone().unwrap_or_else(|| "medium".into()),
                status: text_of(get("status")).unwrap_or_default(),
                author: text_of(get("author")).unwrap_or_default(),
                license,
                file: file.to_string(),
                filter: None,
                prefilter: None,
                event_names: None,
            },
            level,
        }
    }

    fn severity(&self) -> Severity {
        severity(&self.sigma.level)
    }

    /// A rule with this metadata, the SQL and the dedup left to the caller.
    fn rule(self, sql: String, dedup: Dedup, tests: Vec<RuleTest>) -> Rule {
        let s = &self.sigma;
        let description = format!(
            "{}\n\nSigma rule {} ({}) by {}, {}; license {}.",
            self.description, s.id, s.status, s.author, s.file, s.license
        );
        let triage = if self.falsepositives.is_empty() {
            "The Sigma rule lists no false positives.".to_string()
        } else {
            format!("False positives (from the Sigma rule): {}.", self.falsepositives.join("; "))
        };
        Rule {
            id: self.id.clone(),
            title: self.title.clone(),
            severity: self.severity(),
            description,
            triage,
            tactics: self.tactics,
            mitre: self.mitre,
            controls: vec![],
            references: self.references,
            sql,
            resolve: None,
            dedup,
            threshold: None,
            lookback: None,
            baselines: vec![],
            tests,
            sigma: Some(self.sigma),
            scope: Default::default(),
        }
    }
}

/// Sigma's level as a severity.
fn severity(level: &str) -> Severity {
    match level {
        "informational" => Severity::Info,
        "low" => Severity::Low,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => Severity::Medium,
    }
}

/// Compiles a detection document: its condition as SQL over the lake, and the rule.
fn detection(doc: &Yaml, text: &str, meta: Meta, tests: Vec<RuleTest>) -> Result<(String, Rule), String> {
    let get = |k: &str| &doc[k];
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
    let mut prefilters = BTreeMap::new();
    let mut names = BTreeMap::new();
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
                prefilters.insert(
                    name.clone(),
                    condition::Implied(compile::prefilter(&name, v).map_err(|e| e.describe(text))?),
                );
                names.insert(name.clone(), compile::names(v));
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
    let implied: Vec<condition::Implied> = conditions
        .iter()
        .map(|c| condition::compile(c, &prefilters, "detection.condition"))
        .collect::<Result<_, _>>()
        .map_err(|e| e.describe(text))?;
    let prefilter = condition::Logic::any(implied).0;
    let event_names: Vec<condition::Names> = conditions
        .iter()
        .map(|c| condition::compile(c, &names, "detection.condition"))
        .collect::<Result<_, _>>()
        .map_err(|e| e.describe(text))?;
    let event_names = match condition::Logic::any(event_names) {
        condition::Names::OneOf(set) => Some(set),
        condition::Names::Any => None,
    };
    let sql = format!("SELECT *, {IDENTITY_SQL} AS {IDENTITY} FROM events WHERE {filter}");
    let mut rule = meta.rule(sql, default_dedup(), tests);
    if let Some(s) = rule.sigma.as_mut() {
        s.filter = Some(filter.clone());
        s.prefilter = Some(prefilter);
        s.event_names = event_names;
    }
    Ok((filter, rule))
}

/// The rules of parsed Sigma files: each correlation, and each detection on its own unless
/// it is part of a correlation (named by one, or in a correlation's file: "the rules that
/// build a correlation rule are not producing individual queries") and no correlation that
/// names it says `generate: true`. Also returns, by file, what did not link (`file: why`).
pub fn link(files: Vec<SigmaFile>) -> (Vec<Rule>, Vec<String>) {
    // (file, name, filter, rule, in a correlation's file)
    let mut detections: Vec<(&str, &Option<String>, &String, &Rule, bool)> = Vec::new();
    for f in &files {
        let correlated = f.documents.iter().any(|d| matches!(d, Document::Correlation(_)));
        for d in &f.documents {
            if let Document::Detection { name, filter, rule } = d {
                detections.push((f.file.as_str(), name, filter, rule, correlated));
            }
        }
    }
    let is_correlation = |r: &str| {
        files
            .iter()
            .flat_map(|f| &f.documents)
            .any(|d| matches!(d, Document::Correlation(o) if o.name.as_deref() == Some(r) || o.meta.sigma.id == r))
    };
    let find = |r: &str| {
        detections.iter().position(|(_, name, _, rule, _)| {
            name.as_deref() == Some(r) || rule.sigma.as_ref().is_some_and(|s| !s.id.is_empty() && s.id == r)
        })
    };
    let (mut named, mut generated) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for f in &files {
        for d in &f.documents {
            let Document::Correlation(c) = d else { continue };
            let found: Vec<Option<usize>> = c.rules.iter().map(|r| find(r)).collect();
            for i in found.iter().flatten() {
                if c.generate {
                    generated.insert(*i)
                } else {
                    named.insert(*i)
                };
            }
            let built = c
                .rules
                .iter()
                .zip(&found)
                .map(|(r, i)| match i {
                    _ if is_correlation(r) => {
                        Err(Unsupported::new(&format!("a correlation of correlations ({r})"), "correlation.rules")
                            .describe(&f.text))
                    }
                    Some(i) => Ok(correlation::Part {
                        label: r.clone(),
                        name: detections[*i].1.clone(),
                        filter: detections[*i].2.clone(),
                        rule: detections[*i].3.clone(),
                    }),
                    None => Err(format!("correlation.rules: no Sigma rule has the name or id {r:?}")),
                })
                .collect::<Result<Vec<_>, String>>()
                .and_then(|parts| c.rule(&parts).map_err(|e| e.describe(&f.text)))
                .and_then(|r| r.validate().map(|()| r));
            match built {
                Ok(r) => rules.push(r),
                Err(e) => problems.push(format!("{}: {e}", f.file)),
            }
        }
    }
    for (i, (file, _, _, rule, correlated)) in detections.iter().enumerate() {
        let alone = generated.contains(&i) || (!correlated && !named.contains(&i));
        if !alone {
            continue;
        }
        match rule.validate() {
            Ok(()) => rules.push((*rule).clone()),
            Err(e) => problems.push(format!("{file}: {e}")),
        }
    }
    (rules, problems)
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
        // What the shared scan checks first: the selection's typed columns; `not` implies nothing.
        assert_eq!(
            r.sigma.as_ref().unwrap().prefilter.as_deref(),
            Some(
                "(coalesce(eventsource ILIKE 'account.amazonaws.com', false) AND coalesce(eventname ILIKE 'EnableRegion', false))"
            )
        );
        assert!(
            r.triage.contains("Legitimate use")
                && r.description.contains("Sergio")
                && r.description.contains("DRL-1.1")
        );
        assert_eq!(
            r.sql,
            "SELECT *, coalesce(useridentity.sessioncontext.sessionissuer.arn, principal(useridentity)) AS identity FROM events WHERE ((coalesce(eventsource ILIKE 'account.amazonaws.com', false) AND coalesce(eventname ILIKE 'EnableRegion', false)) AND (NOT coalesce(useridentity['type'] ILIKE 'AssumedRole', false)))"
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
