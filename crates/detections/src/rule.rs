//! A detection rule: metadata for the responder, the SQL, how alerts are deduplicated, an
//! optional threshold, and its own test events. One TOML file per rule.

use serde::Deserialize;

use crate::error::{DetectError, Result};

/// How bad a match is. Rule files, alert JSON and the lake's `alerts` table spell it in
/// lowercase (`severity = "high"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The MITRE ATT&CK for IaaS tactic a rule detects, in the matrix's order. Rule files
/// spell it in snake_case (`tactics = ["defense_evasion"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tactic {
    InitialAccess,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Collection,
    Exfiltration,
    Impact,
}

impl Tactic {
    /// Every tactic, in the matrix's order.
    pub const ALL: [Tactic; 11] = [
        Tactic::InitialAccess,
        Tactic::Execution,
        Tactic::Persistence,
        Tactic::PrivilegeEscalation,
        Tactic::DefenseEvasion,
        Tactic::CredentialAccess,
        Tactic::Discovery,
        Tactic::LateralMovement,
        Tactic::Collection,
        Tactic::Exfiltration,
        Tactic::Impact,
    ];

    /// The name ATT&CK gives it ("Defense Evasion").
    pub fn title(self) -> &'static str {
        match self {
            Tactic::InitialAccess => "Initial Access",
            Tactic::Execution => "Execution",
            Tactic::Persistence => "Persistence",
            Tactic::PrivilegeEscalation => "Privilege Escalation",
            Tactic::DefenseEvasion => "Defense Evasion",
            Tactic::CredentialAccess => "Credential Access",
            Tactic::Discovery => "Discovery",
            Tactic::LateralMovement => "Lateral Movement",
            Tactic::Collection => "Collection",
            Tactic::Exfiltration => "Exfiltration",
            Tactic::Impact => "Impact",
        }
    }

    /// Its name in rule files and the lake's tables (`defense_evasion`).
    pub fn name(self) -> &'static str {
        match self {
            Tactic::InitialAccess => "initial_access",
            Tactic::Execution => "execution",
            Tactic::Persistence => "persistence",
            Tactic::PrivilegeEscalation => "privilege_escalation",
            Tactic::DefenseEvasion => "defense_evasion",
            Tactic::CredentialAccess => "credential_access",
            Tactic::Discovery => "discovery",
            Tactic::LateralMovement => "lateral_movement",
            Tactic::Collection => "collection",
            Tactic::Exfiltration => "exfiltration",
            Tactic::Impact => "impact",
        }
    }

    /// The tactic named `name` ([`Tactic::name`]).
    pub fn from_name(name: &str) -> Option<Tactic> {
        Tactic::ALL.into_iter().find(|t| t.name() == name)
    }

    /// ATT&CK's id for it (`TA0005`).
    pub fn mitre_id(self) -> &'static str {
        match self {
            Tactic::InitialAccess => "TA0001",
            Tactic::Execution => "TA0002",
            Tactic::Persistence => "TA0003",
            Tactic::PrivilegeEscalation => "TA0004",
            Tactic::DefenseEvasion => "TA0005",
            Tactic::CredentialAccess => "TA0006",
            Tactic::Discovery => "TA0007",
            Tactic::LateralMovement => "TA0008",
            Tactic::Collection => "TA0009",
            Tactic::Exfiltration => "TA0010",
            Tactic::Impact => "TA0040",
        }
    }
}

/// Alerts with the same rule, dedup key values and window are one alert.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dedup {
    /// Output columns whose values make the key (`principal` is the actor's name).
    pub key: Vec<String>,
    /// Window length, e.g. `1h`, `1d`.
    pub window: String,
}

/// Fire only when at least `count` matching events fall within `window` for one key, or,
/// with `distinct`, at least `count` different values of that column (`distinct =
/// "eventsource"`: five services within ten minutes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: usize,
    pub window: String,
    /// A column of the rule's result whose distinct values are counted instead of events
    /// (nulls are not values).
    #[serde(default)]
    pub distinct: Option<String>,
}

/// What a stateful rule has seen, kept as facts in the lake's `baselines` table instead of
/// rescanning its lookback on every run: per key (up to four text columns), when it was
/// first and last seen. The rule's SQL reads it as a table named `name` with the key
/// columns, `first_seen` and `last_seen`, over everything up to and including the run's
/// rows (within the rule's `lookback`).
///
/// ```toml
/// [[baseline]]
/// name = "known_ips"
/// keys = { a = "recipientaccountid", p = "principal(useridentity)", ip = "sourceipaddress" }
/// where = "errorcode IS NULL"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The name the rule's SQL reads it by.
    pub name: String,
    /// Key column name -> SQL expression over the lake's columns (text after a cast).
    pub keys: std::collections::BTreeMap<String, String>,
    /// Only rows where this SQL condition holds.
    #[serde(rename = "where", default)]
    pub filter: Option<String>,
}

/// The most key columns a baseline has (`k0`..`k3` in the `baselines` table).
pub const MAX_BASELINE_KEYS: usize = 4;

impl Baseline {
    /// The definition's identity: rules that keep the same baseline (keys and condition)
    /// share its facts, and a changed definition starts afresh instead of reading facts
    /// of another meaning.
    pub fn id(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for (k, v) in &self.keys {
            parts.extend([k.as_str(), v.as_str()]);
        }
        parts.push(self.filter.as_deref().unwrap_or(""));
        crate::alert::stable_id(&parts)[..16].to_string()
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        let ident = |s: &str| {
            s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !ident(&self.name) || ["events", "history", lake::CLOUDTRAIL_TABLE].contains(&self.name.as_str()) {
            return Err(format!(
                "baseline name {:?}: use lowercase letters, digits and '_', not a table's name",
                self.name
            ));
        }
        if self.keys.is_empty() || self.keys.len() > MAX_BASELINE_KEYS {
            return Err(format!("baseline {}: give 1 to {MAX_BASELINE_KEYS} keys", self.name));
        }
        if let Some(bad) = self.keys.keys().find(|k| !ident(k) || *k == "first_seen" || *k == "last_seen") {
            return Err(format!("baseline {}: key name {bad:?} (lowercase letters, digits, '_')", self.name));
        }
        Ok(())
    }
}

/// What a test expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Match,
    NoMatch,
}

/// One embedded test: raw CloudTrail events (each merged over a base API call, so a test
/// states only what matters) and the expected outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    pub name: String,
    pub expect: Expect,
    /// Events of the run under test (JSON objects as text).
    pub events: Vec<String>,
    /// Earlier events in the lake, for baselines (stateful rules).
    #[serde(default)]
    pub history: Vec<String>,
    /// Rows of the lake's `integrity` table (digests checked), each merged over a valid,
    /// linked digest ([`crate::testing::base_digest_check`]), for integrity rules.
    #[serde(default)]
    pub integrity: Vec<String>,
    /// Rows of the ledger (`ingested_files`), each merged over an ingested log file.
    #[serde(default)]
    pub ledger: Vec<String>,
    /// What the IP files say about the test's addresses (`[test.ip_info]`, `"203.0.113.50" =
    /// { country = "RO", asn = 9009, aws_service = "EC2" }`), for rules that use
    /// `geo_country`, `asn`, `is_aws_ip`, ...: with it the test runs as with the files
    /// (other public addresses are nowhere known and outside AWS); without it, as without.
    #[serde(default)]
    pub ip_info: std::collections::BTreeMap<String, enrich::Fixed>,
    /// Where the test events' shape comes from: recorded from real CloudTrail, documented
    /// by AWS, or synthetic (nothing public exists). Unset: not said (synthetic).
    pub shape: Option<Shape>,
    /// For a recorded shape, the dataset and file (`invictus-aws-stratus:...`,
    /// `stratus-red-team:docs/detonation-logs/...`, whose licence is in `tests/data/`); for
    /// a documented one, the AWS page.
    pub source: Option<String>,
}

/// Where a test event's shape comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Recorded from real CloudTrail (a public dataset, copied into the repository).
    Recorded,
    /// As AWS's documentation shows it.
    Documented,
    /// Written by hand: nothing public records it.
    Synthetic,
}

/// A detection rule as written in its file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    /// What a responder should check first.
    pub triage: String,
    /// The ATT&CK tactics it covers (at least one).
    pub tactics: Vec<Tactic>,
    /// ATT&CK technique ids (`T1098.001`).
    #[serde(default)]
    pub mitre: Vec<String>,
    /// CIS / Security Hub controls.
    #[serde(default)]
    pub controls: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    /// SQL over `events` (the rows under evaluation) and `history` (the lake's rows in the
    /// lookback window before them), or over `integrity` and `ingested_files` (log file
    /// integrity: their rows of the last two days), returning matched events (at least `eventid`,
    /// `eventtime` and `useridentity`; extra columns become alert details).
    pub sql: String,
    /// SQL over the same tables returning `eventid` and `note`: an earlier alert of this
    /// rule whose event ids include one of them is closed with that note, because what it
    /// reported has since turned out fine (a log file recorded missing that then arrived
    /// with the hash its digest lists).
    pub resolve: Option<String>,
    pub dedup: Dedup,
    pub threshold: Option<Threshold>,
    /// How far back `history` reaches (stateful rules), e.g. `90d`; also how long a
    /// baseline remembers a key it has not seen again.
    pub lookback: Option<String>,
    /// Baselines kept in the lake (see [`Baseline`]); they need a `lookback`.
    #[serde(rename = "baseline", default)]
    pub baselines: Vec<Baseline>,
    #[serde(rename = "test", default)]
    pub tests: Vec<RuleTest>,
    /// Set for a rule compiled from Sigma (its id, level, status, author, license).
    #[serde(skip)]
    pub sigma: Option<crate::sigma::SigmaMeta>,
    /// Where it may alert and whether its alerts are delivered, as the settings file's
    /// `[rule_settings]` leave it ([`crate::tuning`]); every account, live, by default.
    #[serde(skip)]
    pub scope: crate::tuning::RuleScope,
}

/// `T1234` or `T1234.001`.
fn is_technique_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('T') else { return false };
    let (main, sub) = rest.split_once('.').map_or((rest, None), |(m, s)| (m, Some(s)));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && sub.is_none_or(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
}

/// A duration such as `30s`, `15m`, `1h`, `7d`, in microseconds.
pub fn duration_micros(s: &str) -> Option<i64> {
    lake::time::parse_duration(s)
}

impl Rule {
    /// Parses and checks one rule file.
    pub fn parse(text: &str, origin: &str) -> Result<Rule> {
        let rule: Rule = toml::from_str(text)
            .map_err(|e| DetectError::Rule { origin: origin.to_string(), message: e.to_string() })?;
        rule.validate().map_err(|message| DetectError::Rule { origin: origin.to_string(), message })?;
        Ok(rule)
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.id.is_empty()
            || !self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(format!("id {:?}: use lowercase letters, digits, '-' and '.'", self.id));
        }
        // A Sigma rule need not carry ATT&CK tags.
        if self.tactics.is_empty() && self.sigma.is_none() {
            return Err(
                "tactics is empty: name the ATT&CK tactics the rule covers (e.g. tactics = [\"persistence\"])".into()
            );
        }
        if let Some(bad) = self.mitre.iter().find(|m| !is_technique_id(m)) {
            return Err(format!("mitre {bad:?} is not an ATT&CK technique id (T1098 or T1098.001)"));
        }
        if self.sql.trim().is_empty() {
            return Err("sql is empty".into());
        }
        for (what, d) in [("dedup.window", Some(&self.dedup.window)), ("lookback", self.lookback.as_ref())]
            .into_iter()
            .chain(std::iter::once(("threshold.window", self.threshold.as_ref().map(|t| &t.window))))
        {
            if let Some(d) = d
                && duration_micros(d).is_none_or(|m| m <= 0)
            {
                return Err(format!("{what} {d:?} is not a duration (e.g. 15m, 1h, 7d)"));
            }
        }
        for b in &self.baselines {
            b.validate()?;
        }
        if !self.baselines.is_empty() && self.lookback.is_none() {
            return Err("a rule with a baseline needs a lookback (how long a key is remembered)".into());
        }
        if let Some(dup) =
            self.baselines.iter().enumerate().find(|(i, b)| self.baselines[..*i].iter().any(|o| o.name == b.name))
        {
            return Err(format!("baseline {} is defined twice", dup.1.name));
        }
        if self.dedup.key.is_empty() {
            return Err("dedup.key needs at least one column".into());
        }
        if let Some(t) = &self.threshold
            && t.count < 2
        {
            return Err("threshold.count must be at least 2".into());
        }
        if let Some(t) = self
            .tests
            .iter()
            .find(|t| matches!(t.shape, Some(Shape::Recorded | Shape::Documented)) && t.source.is_none())
        {
            return Err(format!("test {:?}: a recorded or documented shape needs its `source`", t.name));
        }
        // A Sigma rule's tests live beside it (`<rule>.tests.toml`); one without them loads.
        let untested_sigma = self.sigma.is_some() && self.tests.is_empty();
        if !untested_sigma
            && (!self.tests.iter().any(|t| t.expect == Expect::Match)
                || !self.tests.iter().any(|t| t.expect == Expect::NoMatch))
        {
            return Err(
                "needs at least one `expect = \"match\"` test and one near-miss `expect = \"no_match\"` test".into()
            );
        }
        Ok(())
    }

    /// Whether the rule reads events (`events`, `history`, `cloudtrail`, or a Sigma
    /// condition) rather than only the lake's own records (`integrity`, `ingested_files`).
    pub fn reads_events(&self) -> bool {
        if self.sigma.is_some() {
            return true;
        }
        let sql = sql_without_literals(&self.sql).to_ascii_lowercase();
        let words = sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        words.into_iter().any(|w| ["events", "history", lake::CLOUDTRAIL_TABLE].contains(&w))
            || !self.baselines.is_empty()
    }

    /// The dedup window in microseconds.
    pub fn dedup_window(&self) -> i64 {
        duration_micros(&self.dedup.window).unwrap_or(3_600_000_000)
    }

    /// The lookback for `history`, in microseconds (thresholds need their window too).
    pub fn lookback_micros(&self) -> i64 {
        let lookback = self.lookback.as_deref().and_then(duration_micros).unwrap_or(0);
        let threshold = self.threshold.as_ref().and_then(|t| duration_micros(&t.window)).unwrap_or(0);
        lookback.max(threshold)
    }

    /// True when the rule reads `history`.
    pub fn is_stateful(&self) -> bool {
        self.lookback.is_some()
    }
}

/// SQL with its string literals and `--` comments blanked out: the words left are names.
fn sql_without_literals(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // To the closing quote ('' inside a literal is a quote).
                while let Some(d) = chars.next() {
                    if d == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push(' ');
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                out.push('\n');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_events_by_the_tables_it_names_not_by_its_strings() {
        assert_eq!(sql_without_literals("SELECT 'a''events' AS x -- history\nFROM t"), "SELECT   AS x \nFROM t");
        let pack = crate::pack::builtin().unwrap_or_default();
        let integrity = pack.iter().find(|r| r.id == "log-file-integrity-violation");
        assert!(integrity.is_some_and(|r| !r.reads_events()), "the integrity rule reads only the lake's records");
        let root = pack.iter().find(|r| r.id == "root-console-login");
        assert!(root.is_some_and(Rule::reads_events));
    }
}
