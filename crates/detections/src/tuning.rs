//! Rule settings without editing rules: the settings file's `[rule_settings]` table.
//!
//! A pack upgrade replaces rule files; what a team decided about a rule (off, another
//! severity, only some accounts, a longer dedup window, shadow while it is being tuned)
//! belongs to the team, in its settings file:
//!
//! ```toml
//! [rule_settings."cis-cloudwatch-2-unauthorized-api-calls"]
//! mode = "shadow"                  # record as shadow, deliver nothing, show the volume
//!
//! [rule_settings."tactic:discovery"]
//! severity = "low"
//!
//! [rule_settings."console-login-new-ip"]
//! exclude_accounts = ["111122223333"]
//! dedup_window = "6h"
//!
//! [rule_settings."*"]
//! enabled = true
//! ```
//!
//! A selector is a rule id, `tactic:<name>` (every rule covering that tactic), `tag:<tag>`
//! (an ATT&CK technique such as `T1098`, a control such as a CIS id, or the pack:
//! `sigma`, `trailhouse`) or `*`; a rule takes `*`'s settings, then its tags', then its
//! tactics', then its own (the most specific wins).
//! Keys: `enabled`, `severity`, `accounts` and `exclude_accounts` (account ids, or OU paths
//! as `aws:PrincipalOrgPaths` writes them, resolved to their accounts at start),
//! `dedup_window`, `mode` (`live` or `shadow`). An unknown rule id, tactic or key, or a bad
//! value, is an error naming the file and line.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{DetectError, Result};
use crate::rule::{Rule, Severity, Tactic, duration_micros};

/// The table of the settings file that holds rule settings.
pub const TABLE: &str = "rule_settings";

/// Live rules deliver their alerts; shadow rules record them as shadow and deliver nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Live,
    Shadow,
}

/// What the settings say about one rule (or tactic, or every rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub accounts: Option<Vec<String>>,
    pub exclude_accounts: Option<Vec<String>>,
    pub dedup_window: Option<String>,
    pub mode: Option<Mode>,
}

impl Setting {
    /// `self` with `more`'s settings on top.
    fn then(mut self, more: &Setting) -> Setting {
        self.enabled = more.enabled.or(self.enabled);
        self.severity = more.severity.or(self.severity);
        self.accounts = more.accounts.clone().or(self.accounts);
        self.exclude_accounts = more.exclude_accounts.clone().or(self.exclude_accounts);
        self.dedup_window = more.dedup_window.clone().or(self.dedup_window);
        self.mode = more.mode.or(self.mode);
        self
    }
}

/// Where a rule may raise alerts and whether they are delivered, as the settings left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleScope {
    /// Only alerts in these accounts (`None`: every account).
    pub accounts: Option<Vec<String>>,
    /// No alerts whose accounts are all among these.
    pub exclude_accounts: Vec<String>,
    pub mode: Mode,
}

impl RuleScope {
    /// Whether an alert in `accounts` is the rule's to raise.
    pub fn admits(&self, accounts: &[String]) -> bool {
        let included = self.accounts.as_ref().is_none_or(|only| accounts.iter().any(|a| only.contains(a)));
        let excluded = !accounts.is_empty() && accounts.iter().all(|a| self.exclude_accounts.contains(a));
        included && !excluded
    }
}

/// The settings file's rule settings.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    /// Selector -> (setting, the line of the file it is on).
    settings: BTreeMap<String, (Setting, usize)>,
    origin: String,
}

impl Tuning {
    /// The `[rule_settings]` table of a settings file's text (none: no settings).
    /// `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Tuning> {
        let table: toml::Table = toml::from_str(text).map_err(|e: toml::de::Error| err(origin, 0, &e.to_string()))?;
        let mut tuning = Tuning { settings: BTreeMap::new(), origin: origin.to_string() };
        let Some(section) = table.get(TABLE) else { return Ok(tuning) };
        let toml::Value::Table(section) = section else {
            return Err(err(origin, line_of(text, TABLE, None), "[rule_settings] must be a table of tables"));
        };
        for (selector, value) in section {
            let line = line_of(text, TABLE, Some(selector.as_str()));
            let setting: Setting = value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| err(origin, line, &format!("{TABLE}.{selector:?}: {}", e.message())))?;
            if let Some(w) = &setting.dedup_window
                && duration_micros(w).is_none()
            {
                return Err(err(origin, line, &format!("{TABLE}.{selector:?}: dedup_window {w:?} is not a duration")));
            }
            for id in setting.accounts.iter().chain(&setting.exclude_accounts).flatten() {
                if !is_account_id(id) && ou_of(id).is_none() {
                    return Err(err(
                        origin,
                        line,
                        &format!(
                            "{TABLE}.{selector:?}: {id:?} is neither an account id (12 digits) nor an OU path \
                             (o-exampleorgid/r-examplerootid/ou-ab12-11111111/, as aws:PrincipalOrgPaths writes it)"
                        ),
                    ));
                }
            }
            if let Some(t) = selector.strip_prefix("tactic:")
                && Tactic::from_name(t).is_none()
            {
                let names: Vec<&str> = Tactic::ALL.iter().map(|t| t.name()).collect();
                return Err(err(origin, line, &format!("no tactic {t:?}: use one of {}", names.join(", "))));
            }
            tuning.settings.insert(selector.clone(), (setting, line));
        }
        Ok(tuning)
    }

    /// The settings file at `path`, or none without one.
    pub fn load(path: Option<&std::path::Path>) -> Result<Tuning> {
        let Some(path) = path else { return Ok(Tuning::default()) };
        let text = std::fs::read_to_string(path).map_err(|cause| DetectError::Io {
            context: format!("cannot read the settings file {}", path.display()),
            cause,
        })?;
        Tuning::parse(&text, &path.display().to_string())
    }

    pub fn is_empty(&self) -> bool {
        self.settings.is_empty()
    }

    /// The OU ids the settings name (through OU paths), to resolve to their accounts.
    pub fn organizational_units(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .settings
            .values()
            .flat_map(|(s, _)| s.accounts.iter().chain(&s.exclude_accounts).flatten())
            .filter_map(|v| ou_of(v).map(String::from))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Replaces each OU path with the accounts `resolved` lists under its OU (every level
    /// below it); an OU it does not list is an error naming the file and line.
    pub fn with_organizational_units(mut self, resolved: &BTreeMap<String, Vec<String>>) -> Result<Tuning> {
        let origin = self.origin.clone();
        for (selector, (setting, line)) in self.settings.iter_mut() {
            for list in [&mut setting.accounts, &mut setting.exclude_accounts].into_iter().flatten() {
                let mut out = Vec::new();
                for v in list.iter() {
                    match ou_of(v) {
                        None => out.push(v.clone()),
                        Some(ou) => match resolved.get(ou) {
                            Some(accounts) => out.extend(accounts.iter().cloned()),
                            None => {
                                return Err(err(
                                    &origin,
                                    *line,
                                    &format!("{TABLE}.{selector:?}: OU {ou} could not be resolved"),
                                ));
                            }
                        },
                    }
                }
                *list = out;
            }
        }
        Ok(self)
    }

    /// Applies the settings to `rules`: drops disabled rules, sets severities, dedup
    /// windows and scopes. `known` lists every rule id that exists (the loaded pack may be
    /// a selection); a setting for an id not in it is an error naming its line.
    pub fn apply(&self, rules: Vec<Rule>, known: &[String]) -> Result<Vec<Rule>> {
        for (selector, (_, line)) in &self.settings {
            if selector == "*"
                || selector.starts_with("tactic:")
                || selector.starts_with("tag:")
                || known.iter().any(|k| k == selector)
            {
                continue;
            }
            let near = |k: &String| datafusion::common::utils::datafusion_strsim::levenshtein(k, selector) <= 3;
            let close: Vec<&str> = known.iter().filter(|k| near(k)).map(String::as_str).take(3).collect();
            let hint = if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(", ")) };
            return Err(err(&self.origin, *line, &format!("{TABLE}: no rule {selector:?}{hint}")));
        }
        let mut out = Vec::with_capacity(rules.len());
        for mut rule in rules {
            let setting = self.for_rule(&rule);
            if setting.enabled == Some(false) {
                continue;
            }
            if let Some(s) = setting.severity {
                rule.severity = s;
            }
            if let Some(w) = setting.dedup_window {
                rule.dedup.window = w;
            }
            if let Some(ou) = setting.accounts.iter().chain(&setting.exclude_accounts).flatten().find_map(|v| ou_of(v))
            {
                return Err(err(&self.origin, 0, &format!("{TABLE}: OU {ou} was not resolved to its accounts")));
            }
            rule.scope = RuleScope {
                accounts: setting.accounts,
                exclude_accounts: setting.exclude_accounts.unwrap_or_default(),
                mode: setting.mode.unwrap_or_default(),
            };
            out.push(rule);
        }
        Ok(out)
    }

    /// `*`, then the rule's tags, then its tactics (in the matrix's order), then the rule's
    /// own.
    fn for_rule(&self, rule: &Rule) -> Setting {
        let mut s = self.settings.get("*").map(|(s, _)| s.clone()).unwrap_or_default();
        for (selector, (more, _)) in &self.settings {
            if let Some(tag) = selector.strip_prefix("tag:")
                && has_tag(rule, tag)
            {
                s = s.then(more);
            }
        }
        for t in Tactic::ALL.iter().filter(|t| rule.tactics.contains(t)) {
            if let Some((more, _)) = self.settings.get(&format!("tactic:{}", t.name())) {
                s = s.then(more);
            }
        }
        if let Some((more, _)) = self.settings.get(&rule.id) {
            s = s.then(more);
        }
        s
    }
}

fn is_account_id(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
}

/// The OU an OU path ends in (`o-.../r-.../ou-a/ou-b/` -> `ou-b`), or `None` for anything
/// else. A bare `ou-...` id is taken too.
pub fn ou_of(v: &str) -> Option<&str> {
    let last = v.trim_end_matches('/').rsplit('/').next()?;
    let ok =
        last.starts_with("ou-") && last.len() > 4 && last[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let path_ok = v.trim_end_matches('/').split('/').count() == 1 || v.starts_with("o-");
    (ok && path_ok).then_some(last)
}

/// Whether `rule` carries `tag`: an ATT&CK technique it names (`T1098` covers
/// `T1098.001`), a control it maps to (`CIS-3.1`), or the pack it is from (`sigma`,
/// `trailhouse`); case-insensitive.
pub fn has_tag(rule: &Rule, tag: &str) -> bool {
    let tag = tag.to_ascii_lowercase();
    let pack = if rule.sigma.is_some() { "sigma" } else { "trailhouse" };
    tag == pack
        || rule.mitre.iter().any(|t| {
            let t = t.to_ascii_lowercase();
            t == tag || t.strip_prefix(&tag).is_some_and(|rest| rest.starts_with('.'))
        })
        || rule.controls.iter().any(|c| c.eq_ignore_ascii_case(&tag))
}

fn err(origin: &str, line: usize, message: &str) -> DetectError {
    let at = if line > 0 { format!(" line {line}") } else { String::new() };
    DetectError::Rule { origin: format!("settings file {origin}{at}"), message: message.to_string() }
}

/// The 1-based line of `[table."key"]` / `[table.key]` (or of `"key" =` / `key =` inside
/// `[table]`), or of `[table` itself without a key; 0 when not found.
fn line_of(text: &str, table: &str, key: Option<&str>) -> usize {
    let mut in_table = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let header = line.trim_start_matches('[').trim_end_matches(']').trim();
            in_table = header == table;
            let Some(key) = key else {
                if header.starts_with(table) {
                    return i + 1;
                }
                continue;
            };
            if let Some(rest) = header.strip_prefix(table).and_then(|r| r.strip_prefix('.'))
                && rest.trim().trim_matches('"').trim_matches('\'') == key
            {
                return i + 1;
            }
        } else if in_table && let Some(key) = key {
            let name = line.split('=').next().unwrap_or_default().trim().trim_matches('"').trim_matches('\'');
            if name == key {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Rule> {
        crate::pack::builtin().unwrap()
    }

    fn known(rules: &[Rule]) -> Vec<String> {
        rules.iter().map(|r| r.id.clone()).collect()
    }

    #[test]
    fn the_most_specific_setting_wins_and_disabled_rules_are_dropped() {
        let text = r#"
lake = "x"

[rule_settings."tactic:discovery"]
severity = "low"
mode = "shadow"

[rule_settings."iam-account-authorization-details"]
severity = "high"

[rule_settings."root-console-login"]
enabled = false

[rule_settings."console-login-new-ip"]
exclude_accounts = ["111122223333"]
dedup_window = "6h"

[rule_settings."tag:T1562"]
mode = "shadow"
"#;
        let all = rules();
        let ids = known(&all);
        let tuned = Tuning::parse(text, "t.toml").unwrap().apply(all, &ids).unwrap();
        let get = |id: &str| tuned.iter().find(|r| r.id == id);
        assert!(get("root-console-login").is_none());
        let details = get("iam-account-authorization-details").unwrap();
        assert_eq!(
            (details.severity, details.scope.mode),
            (Severity::High, Mode::Shadow),
            "own severity, tactic's mode"
        );
        let other_discovery =
            tuned.iter().find(|r| r.tactics.contains(&Tactic::Discovery) && r.id != details.id).unwrap();
        assert_eq!(other_discovery.severity, Severity::Low);
        let evasion = tuned.iter().filter(|r| r.mitre.iter().any(|t| t.starts_with("T1562"))).collect::<Vec<_>>();
        assert!(
            !evasion.is_empty() && evasion.iter().all(|r| r.scope.mode == Mode::Shadow),
            "tag:T1562 covers T1562.008"
        );
        let new_ip = get("console-login-new-ip").unwrap();
        assert_eq!(new_ip.dedup.window, "6h");
        assert!(!new_ip.scope.admits(&["111122223333".into()]));
        assert!(new_ip.scope.admits(&["111122223333".into(), "444455556666".into()]));
    }

    #[test]
    fn an_unknown_rule_key_tactic_or_value_is_an_error_naming_the_file_and_line() {
        let all = rules();
        let ids = known(&all);
        let bad =
            |text: &str| Tuning::parse(text, "t.toml").and_then(|t| t.apply(rules(), &ids)).unwrap_err().to_string();
        let e = bad("[rule_settings.\"root-console-logn\"]\nseverity = \"low\"\n");
        assert!(e.contains("t.toml line 1") && e.contains("did you mean root-console-login"), "{e}");
        let e = bad("\n\n[rule_settings.\"root-console-login\"]\nseverity = \"loud\"\n");
        assert!(e.contains("line 3") && e.contains("loud"), "{e}");
        let e = bad("[rule_settings.\"root-console-login\"]\nmute = true\n");
        assert!(e.contains("mute"), "{e}");
        let e = bad("[rule_settings.\"tactic:recon\"]\nenabled = false\n");
        assert!(e.contains("no tactic \"recon\""), "{e}");
        let e = bad("[rule_settings.\"*\"]\naccounts = [\"prod\"]\n");
        assert!(e.contains("neither an account id"), "{e}");
        let e = bad("[rule_settings.\"*\"]\naccounts = [\"o-aa11bb22cc/r-ab12/ou-ab12-cdefgh34/\"]\n");
        assert!(e.contains("not resolved"), "an OU path needs resolving first: {e}");
        let e = bad("[rule_settings.\"*\"]\ndedup_window = \"soon\"\n");
        assert!(e.contains("not a duration"), "{e}");
        assert!(Tuning::parse("lake = \"x\"\n", "t.toml").unwrap().is_empty());
    }
}
