//! Destinations as the settings file declares them (`[[destinations]]`), checked at start.

use std::path::PathBuf;

use detections::alert::Alert;
use detections::rule::{Severity, Tactic};
use serde::Deserialize;

use crate::error::{Result, RouteError};

/// The settings file's array of destinations.
pub const TABLE: &str = "destinations";

/// Where alerts can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Slack incoming webhook (`url` or `url_env`): one message with blocks per alert.
    Slack,
    /// PagerDuty Events API v2 (`routing_key` or `routing_key_env`): a trigger per alert,
    /// deduplicated by its id, resolved when the alert is closed.
    Pagerduty,
    /// Any JSON receiver (`url` or `url_env`): one POST per alert.
    Webhook,
    /// A file (`path`): one JSON line per alert, synced.
    Jsonl,
    /// Amazon SNS (`topic_arn`): one message per alert, subject its title.
    Sns,
    /// Amazon EventBridge (`event_bus`, default `default`): `PutEvents`, source
    /// `trailhouse`, detail-type `trailhouse alert`.
    Eventbridge,
    /// AWS Security Hub (`product_arn`, default the account's own `default` product):
    /// `BatchImportFindings` in ASFF; a rerun updates a finding, never duplicates it.
    Securityhub,
}

/// The body a JSON destination sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    /// trailhouse's alert JSON (Slack-compatible `text`/`blocks` for webhooks).
    #[default]
    Json,
    /// An OCSF Detection Finding (class 2004).
    Ocsf,
}

/// One destination.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Its name in logs and in the `alert_deliveries` table.
    pub name: String,
    pub kind: Kind,
    /// Only alerts of this severity and above.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Only these rules' alerts (ids).
    #[serde(default)]
    pub rules: Vec<String>,
    /// Only alerts covering one of these tactics.
    #[serde(default)]
    pub tactics: Vec<Tactic>,
    #[serde(default)]
    pub format: Body,
    /// Slack, webhook: the URL, a secret (prefer `url_env`).
    #[serde(default)]
    pub url: Option<String>,
    /// Slack, webhook: the environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// PagerDuty: the integration's routing key, a secret (prefer `routing_key_env`).
    #[serde(default)]
    pub routing_key: Option<String>,
    #[serde(default)]
    pub routing_key_env: Option<String>,
    /// PagerDuty: the Events API endpoint (default PagerDuty's own).
    #[serde(default)]
    pub events_url: Option<String>,
    /// JSONL: the file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// SNS: the topic.
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// EventBridge: the bus's name or ARN.
    #[serde(default)]
    pub event_bus: Option<String>,
    /// Security Hub: the product ARN findings are imported under.
    #[serde(default)]
    pub product_arn: Option<String>,
}

/// Never the secrets.
impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

impl Destination {
    /// Whether `a` goes here: delivered (not suppressed, not shadow), at or above the floor,
    /// of the listed rules and tactics when there are lists.
    pub fn wants(&self, a: &Alert) -> bool {
        a.delivered()
            && self.min_severity.is_none_or(|s| a.severity >= s)
            && (self.rules.is_empty() || self.rules.contains(&a.rule_id))
            && (self.tactics.is_empty() || a.tactics.iter().any(|t| self.tactics.contains(t)))
    }

    /// A secret given inline or through an environment variable.
    fn secret(&self, inline: &Option<String>, env: &Option<String>, what: &str) -> Result<String> {
        if let Some(v) = inline.as_ref().filter(|v| !v.is_empty()) {
            return Ok(v.clone());
        }
        if let Some(var) = env {
            return std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| RouteError::config(&self.name, format!("{var} (its {what}) is not set")));
        }
        Err(RouteError::config(&self.name, format!("needs {what}: set `{}` or `{}_env`", key(what), key(what))))
    }

    pub fn url(&self) -> Result<String> {
        self.secret(&self.url, &self.url_env, "url")
    }

    pub fn routing_key(&self) -> Result<String> {
        self.secret(&self.routing_key, &self.routing_key_env, "routing_key")
    }

    /// Checks that the destination has what its kind needs.
    pub fn check(&self) -> Result<()> {
        let need = |v: &Option<String>, k: &str| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|_| ())
                .ok_or_else(|| RouteError::config(&self.name, format!("needs `{k}`")))
        };
        match self.kind {
            Kind::Slack | Kind::Webhook => {
                let url = self.url()?;
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    return Err(RouteError::config(&self.name, "url must be http:// or https://".into()));
                }
                Ok(())
            }
            Kind::Pagerduty => self.routing_key().map(|_| ()),
            Kind::Jsonl => {
                self.path.as_ref().map(|_| ()).ok_or_else(|| RouteError::config(&self.name, "needs `path`".into()))
            }
            Kind::Sns => need(&self.topic_arn, "topic_arn"),
            Kind::Eventbridge | Kind::Securityhub => Ok(()),
        }
    }
}

fn key(what: &str) -> &str {
    what
}

/// The destinations of a settings file's text (none without `[[destinations]]`), each
/// checked; `origin` names the file in errors, with the line of the destination's name.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Destination>> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        destinations: Vec<toml::Value>,
    }
    let file: File = toml::from_str(text).map_err(|e| RouteError::Settings(format!("settings file {origin}: {e}")))?;
    let mut out: Vec<Destination> = Vec::new();
    for (i, value) in file.destinations.into_iter().enumerate() {
        let name = value.get("name").and_then(toml::Value::as_str).unwrap_or_default().to_string();
        let line = text
            .lines()
            .position(|l| {
                let l = l.trim();
                l.starts_with("name") && l.contains(&format!("\"{name}\""))
            })
            .map_or(String::new(), |n| format!(" line {}", n + 1));
        let at =
            |m: String| RouteError::Settings(format!("settings file {origin}{line}: destinations[{i}] {name:?}: {m}"));
        let d: Destination = value.try_into().map_err(|e: toml::de::Error| at(e.message().to_string()))?;
        if d.name.trim().is_empty() {
            return Err(at("needs a `name`".into()));
        }
        if out.iter().any(|o| o.name == d.name) {
            return Err(at("a second destination with this name".into()));
        }
        d.check().map_err(|e| at(e.to_string()))?;
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked_at_start_with_the_file_line_and_key() {
        let ok = parse(
            "[[destinations]]\nname = \"oncall\"\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/X\"\nmin_severity = \"high\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(ok.len(), 1);
        assert!(!format!("{:?}", ok[0]).contains("hooks.slack.com"), "Debug shows no secret");
        let bad = |t: &str| parse(t, "t.toml").unwrap_err().to_string();
        let e = bad("lake = \"x\"\n[[destinations]]\nname = \"pd\"\nkind = \"pagerduty\"\n");
        assert!(e.contains("t.toml line 3") && e.contains("routing_key"), "{e}");
        let e = bad("[[destinations]]\nname = \"x\"\nkind = \"carrier-pigeon\"\n");
        assert!(e.contains("carrier-pigeon"), "{e}");
        let e = bad("[[destinations]]\nname = \"x\"\nkind = \"sns\"\ntopic = \"t\"\n");
        assert!(e.contains("topic"), "{e}");
        let e = bad("[[destinations]]\nname = \"x\"\nkind = \"webhook\"\nurl_env = \"TRAILHOUSE_TEST_UNSET_URL\"\n");
        assert!(e.contains("TRAILHOUSE_TEST_UNSET_URL") && e.contains("not set"), "{e}");
    }
}
