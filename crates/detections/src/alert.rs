//! Alerts: what a rule's matches become after thresholds and deduplication, and their
//! forms (a text table, a line for people, Arrow for the lake's `alerts` table). Where they
//! go is [`crate::sink`].

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lake::time::format_canonical;
use serde::Serialize;

use crate::error::Result;
use crate::rule::{Severity, Tactic};

/// One deduplicated alert.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Alert {
    /// Stable id from rule, dedup key and window: the same finding always has the same id.
    pub alert_id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    /// `column=value` pairs of the dedup key.
    pub dedup_key: String,
    pub principal: Option<String>,
    /// Who the alert is about, as incidents group it: the actor's ARN, an assumed role's
    /// sessions folded into the role, an access key's calls into its user
    /// ([`crate::engine::IDENTITY_ARN_SQL`]); `None` for alerts about no actor.
    #[serde(default)]
    pub identity: Option<String>,
    pub source_ips: Vec<String>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub event_names: Vec<String>,
    /// The distinct user agents of its events.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Up to [`MAX_EVENT_IDS`] event ids.
    pub event_ids: Vec<String>,
    pub events: u64,
    /// RFC 3339.
    pub first_seen: String,
    pub last_seen: String,
    #[serde(skip)]
    pub first_seen_micros: i64,
    #[serde(skip)]
    pub last_seen_micros: i64,
    /// Extra columns the rule returned (first matching row), e.g. the opened port.
    pub details: serde_json::Map<String, serde_json::Value>,
    pub mitre: Vec<String>,
    /// The rule's ATT&CK tactics (incidents order them along the kill chain).
    #[serde(default)]
    pub tactics: Vec<Tactic>,
    pub controls: Vec<String>,
    pub triage: String,
    /// The rule's references (articles, documentation).
    pub references: Vec<String>,
    /// Who wrote the rule and under which license (Sigma rules; empty for the built-in pack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The exception that suppressed it ([`crate::exception`]): recorded in the lake,
    /// counted, never delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
    /// Raised by a rule in shadow mode ([`crate::tuning::Mode::Shadow`]): recorded and
    /// counted, never delivered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

impl Alert {
    /// An alert from its JSON (as sinks write it), its times restored from the RFC 3339
    /// fields.
    pub fn from_json(text: &str) -> serde_json::Result<Alert> {
        let mut a: Alert = serde_json::from_str(text)?;
        a.first_seen_micros = lake::time::parse_canonical(&a.first_seen)
            .or_else(|| lake::time::parse_lenient(&a.first_seen))
            .unwrap_or(0);
        a.last_seen_micros =
            lake::time::parse_canonical(&a.last_seen).or_else(|| lake::time::parse_lenient(&a.last_seen)).unwrap_or(0);
        Ok(a)
    }

    /// Whether sinks deliver it: not suppressed by an exception, not from a shadow rule.
    pub fn delivered(&self) -> bool {
        self.suppressed_by.is_none() && !self.shadow
    }
}

pub const MAX_EVENT_IDS: usize = 20;

/// Who and where, in the alert's details when the process has the files: `where`, each
/// source address's country, network and AWS service (`"198.51.100.7": "RO · AS9009 M247
/// Europe SRL"`), and `account_names`, each account's name. Sinks and the console show
/// them; nothing is added without the files.
pub fn add_where(a: &mut Alert, e: &enrich::Enrichment) {
    let mut places = serde_json::Map::new();
    for ip in &a.source_ips {
        let mut parts: Vec<String> = vec![];
        if let Some(g) = e.ip.geo(ip) {
            parts.extend(g.country.map(String::from));
        }
        if let Some(n) = e.ip.asn(ip) {
            parts.push(format!("AS{}{}", n.number, n.organization.map(|o| format!(" {o}")).unwrap_or_default()));
        }
        if let Some(r) = e.ip.aws(ip) {
            parts.push(format!("AWS {} {}", r.service, r.region));
        }
        if !parts.is_empty() {
            places.insert(ip.clone(), parts.join(" · ").into());
        }
    }
    if !places.is_empty() {
        a.details.insert("where".into(), places.into());
    }
    let names: serde_json::Map<String, serde_json::Value> =
        a.accounts.iter().filter_map(|id| e.accounts.name(id).map(|n| (id.clone(), n.into()))).collect();
    if !names.is_empty() {
        a.details.insert("account_names".into(), names.into());
    }
}

/// A stable 128-bit hex id (two FNV-1a 64 passes): no dependency, never changes.
pub fn stable_id(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for p in parts {
        for &byte in p.as_bytes().iter().chain(std::iter::once(&0xff)) {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
        }
    }
    format!("{a:016x}{b:016x}")
}

/// One line for people.
pub fn summary_line(a: &Alert) -> String {
    let suppressed = match (&a.suppressed_by, a.shadow) {
        (Some(e), _) => format!(" [suppressed by exception {e}]"),
        (None, true) => " [shadow rule: not delivered]".to_string(),
        (None, false) => String::new(),
    };
    // With the IP and account files: "198.51.100.7 (RO · AS9009 ...)", "111122223333 (prod)".
    let with = |values: &[String], key: &str| -> Vec<String> {
        let known = a.details.get(key).and_then(serde_json::Value::as_object);
        values
            .iter()
            .map(|v| match known.and_then(|k| k.get(v)).and_then(serde_json::Value::as_str) {
                Some(w) => format!("{v} ({w})"),
                None => v.clone(),
            })
            .collect()
    };
    format!(
        "[{}] {} - {} from {} in {} {} ({} event{}, {} .. {}){suppressed}",
        a.severity.as_str().to_uppercase(),
        a.title,
        a.principal.as_deref().unwrap_or("?"),
        join_or(&with(&a.source_ips, "where"), "?"),
        join_or(&with(&a.accounts, "account_names"), "?"),
        join_or(&a.regions, ""),
        a.events,
        if a.events == 1 { "" } else { "s" },
        a.first_seen,
        a.last_seen
    )
}

pub(crate) fn join_or(v: &[String], empty: &str) -> String {
    if v.is_empty() { empty.to_string() } else { v.join(",") }
}

pub static ALERT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = lake::schema::timestamp_type();
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("rule_id", DataType::Utf8, false),
        s("title"),
        s("severity"),
        Field::new("detected_at", ts.clone(), false),
        Field::new("first_seen", ts.clone(), true),
        Field::new("last_seen", ts, true),
        Field::new("events", DataType::Int64, false),
        s("principal"),
        Field::new("source_ips", list.clone(), true),
        Field::new("accounts", list.clone(), true),
        Field::new("regions", list.clone(), true),
        Field::new("event_names", list.clone(), true),
        Field::new("event_ids", list.clone(), true),
        s("dedup_key"),
        s("details"),
        s("mitre"),
        s("controls"),
        s("run_id"),
        // Added after the first release: older lakes gain them when an alert is recorded.
        Field::new("references", list.clone(), true),
        s("author"),
        s("license"),
        s("identity"),
        Field::new("tactics", list.clone(), true),
        Field::new("user_agents", list, true),
        s("suppressed_by"),
        Field::new("shadow", DataType::Boolean, true),
    ]))
});

/// Alerts as one batch of the `alerts` table.
pub fn to_batch(alerts: &[Alert], detected_at: i64, run_id: &str) -> Result<RecordBatch> {
    use crate::columns::{ints, lists as list_of, strings as text, times as time};
    let strings = |f: &dyn Fn(&Alert) -> Option<String>| text(alerts, f);
    let lists = |f: &dyn Fn(&Alert) -> &Vec<String>| list_of(alerts, |a| f(a).clone());
    let times = |f: &dyn Fn(&Alert) -> i64| time(alerts, f);
    let tactics = list_of(alerts, |a| a.tactics.iter().map(|t| t.name()).collect());
    let columns: Vec<ArrayRef> = vec![
        strings(&|a| Some(a.alert_id.clone())),
        strings(&|a| Some(a.rule_id.clone())),
        strings(&|a| Some(a.title.clone())),
        strings(&|a| Some(a.severity.as_str().to_string())),
        times(&|_| detected_at),
        times(&|a| a.first_seen_micros),
        times(&|a| a.last_seen_micros),
        ints(alerts, |a| i64::try_from(a.events).unwrap_or(i64::MAX)),
        strings(&|a| a.principal.clone()),
        lists(&|a| &a.source_ips),
        lists(&|a| &a.accounts),
        lists(&|a| &a.regions),
        lists(&|a| &a.event_names),
        lists(&|a| &a.event_ids),
        strings(&|a| Some(a.dedup_key.clone())),
        strings(&|a| Some(serde_json::Value::Object(a.details.clone()).to_string())),
        strings(&|a| Some(a.mitre.join(","))),
        strings(&|a| Some(a.controls.join(","))),
        strings(&|_| Some(run_id.to_string())),
        lists(&|a| &a.references),
        strings(&|a| a.author.clone()),
        strings(&|a| a.license.clone()),
        strings(&|a| a.identity.clone()),
        tactics,
        lists(&|a| &a.user_agents),
        strings(&|a| a.suppressed_by.clone()),
        Arc::new(arrow::array::BooleanArray::from(alerts.iter().map(|a| Some(a.shadow)).collect::<Vec<_>>())),
    ];
    Ok(RecordBatch::try_new(ALERT_SCHEMA.clone(), columns)?)
}

/// Formats microseconds as RFC 3339.
pub fn rfc3339(micros: i64) -> String {
    format_canonical(micros)
}

/// Alerts as a human table (severity, rule, who, from where, when, how many).
pub fn table(alerts: &[Alert]) -> Result<String> {
    let col = |f: &dyn Fn(&Alert) -> String| -> ArrayRef {
        Arc::new(arrow::array::StringArray::from_iter_values(alerts.iter().map(f)))
    };
    let batch = RecordBatch::try_from_iter(vec![
        ("severity", col(&|a| a.severity.as_str().to_string())),
        ("rule", col(&|a| a.rule_id.clone())),
        ("principal", col(&|a| a.principal.clone().unwrap_or_default())),
        ("source_ip", col(&|a| join_or(&a.source_ips, ""))),
        ("account", col(&|a| join_or(&a.accounts, ""))),
        ("region", col(&|a| join_or(&a.regions, ""))),
        ("first_seen", col(&|a| a.first_seen.clone())),
        ("events", col(&|a| a.events.to_string())),
    ])?;
    Ok(arrow::util::pretty::pretty_format_batches(&[batch])?.to_string())
}
