//! Alerts and incidents as OCSF Detection Findings (class 2004), the form Security Hub's
//! OCSF findings, Security Lake and SIEMs that speak OCSF read.
//!
//! Mapped to OCSF 1.3.0: `activity_id` 1 (Create), `category_uid` 2 (Findings),
//! `class_uid` 2004, `type_uid` 200401, `severity_id` from the severity (info 1 .. critical
//! 5), `status_id` 1 (New), `time` the last event's time (epoch milliseconds),
//! `finding_info` (the alert's id, title, rule as `analytic`, first/last seen, ATT&CK
//! tactics and techniques as `attacks`), `metadata.product` trailhouse, `cloud` (AWS, the
//! account and region), `evidences` (the actor, its source addresses and the API calls),
//! and what OCSF has no place for (dedup key, details) under `unmapped`.

use serde_json::{Value, json};

use crate::alert::Alert;
use crate::incident::Incident;
use crate::rule::{Severity, Tactic};

/// The OCSF schema version the mapping follows.
pub const OCSF_VERSION: &str = "1.3.0";

fn severity_id(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "Informational",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

fn millis(micros: i64) -> i64 {
    micros.div_euclid(1000)
}

fn metadata(uid: &str) -> Value {
    json!({
        "version": OCSF_VERSION,
        "uid": uid,
        "product": { "name": "trailhouse", "vendor_name": "trailhouse", "version": env!("CARGO_PKG_VERSION") },
    })
}

fn attacks(tactics: &[Tactic], techniques: &[String]) -> Vec<Value> {
    let mut out: Vec<Value> = tactics
        .iter()
        .map(|t| json!({ "tactic": { "uid": t.mitre_id(), "name": t.title() }, "version": "16.1" }))
        .collect();
    out.extend(
        techniques
            .iter()
            .filter(|t| t.starts_with('T'))
            .map(|t| json!({ "technique": { "uid": t }, "version": "16.1" })),
    );
    out
}

fn base(uid: &str, severity: Severity, time_micros: i64) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("activity_id".into(), 1.into());
    m.insert("activity_name".into(), "Create".into());
    m.insert("category_uid".into(), 2.into());
    m.insert("category_name".into(), "Findings".into());
    m.insert("class_uid".into(), 2004.into());
    m.insert("class_name".into(), "Detection Finding".into());
    m.insert("type_uid".into(), 200_401.into());
    m.insert("type_name".into(), "Detection Finding: Create".into());
    m.insert("severity_id".into(), severity_id(severity).into());
    m.insert("severity".into(), severity_name(severity).into());
    m.insert("status_id".into(), 1.into());
    m.insert("status".into(), "New".into());
    m.insert("time".into(), millis(time_micros).into());
    m.insert("metadata".into(), metadata(uid));
    m
}

/// An alert as an OCSF Detection Finding.
pub fn alert_finding(a: &Alert) -> Value {
    let mut m = base(&a.alert_id, a.severity, a.last_seen_micros);
    m.insert("message".into(), crate::alert::summary_line(a).into());
    m.insert(
        "finding_info".into(),
        json!({
            "uid": a.alert_id,
            "title": a.title,
            "desc": a.triage,
            "types": [a.rule_id],
            "first_seen_time": millis(a.first_seen_micros),
            "last_seen_time": millis(a.last_seen_micros),
            "analytic": { "uid": a.rule_id, "name": a.title, "type_id": 1, "type": "Rule" },
            "attacks": attacks(&a.tactics, &a.mitre),
            "src_url": a.references.first(),
        }),
    );
    m.insert(
        "cloud".into(),
        json!({ "provider": "AWS", "account": { "uid": a.accounts.first() }, "region": a.regions.first() }),
    );
    m.insert(
        "evidences".into(),
        json!([{
            "actor": { "user": { "name": a.principal, "uid": a.identity } },
            "src_endpoint": { "ip": a.source_ips.first() },
            "api": { "operation": a.event_names.first() },
        }]),
    );
    m.insert(
        "unmapped".into(),
        json!({
            "dedup_key": a.dedup_key, "details": a.details, "event_ids": a.event_ids, "events": a.events,
            "accounts": a.accounts, "regions": a.regions, "source_ips": a.source_ips, "event_names": a.event_names,
        }),
    );
    Value::Object(m)
}

/// An incident as an OCSF Detection Finding: its steps' alert ids are related findings.
pub fn incident_finding(i: &Incident) -> Value {
    let mut m = base(&i.incident_id, i.severity, i.last_seen_micros);
    let chain: Vec<&str> = i.tactics.iter().map(|t| t.title()).collect();
    let title = format!("Incident: {} ({})", i.principal.as_deref().unwrap_or(&i.identity), chain.join(" -> "));
    m.insert("message".into(), title.clone().into());
    m.insert(
        "finding_info".into(),
        json!({
            "uid": i.incident_id,
            "title": title,
            "types": ["incident"],
            "first_seen_time": millis(i.first_seen_micros),
            "last_seen_time": millis(i.last_seen_micros),
            "attacks": attacks(&i.tactics, &[]),
            "related_analytics": i.rules().iter().map(|r| json!({ "uid": r, "type_id": 1, "type": "Rule" })).collect::<Vec<_>>(),
        }),
    );
    m.insert("cloud".into(), json!({ "provider": "AWS", "account": { "uid": i.accounts.first() } }));
    m.insert("evidences".into(), json!([{ "actor": { "user": { "name": i.principal, "uid": i.identity } } }]));
    m.insert(
        "unmapped".into(),
        json!({
            "score": i.score, "progression": i.progression, "accounts": i.accounts,
            "steps": i.steps.iter().map(|s| json!({ "alert_id": s.alert_id, "rule_id": s.rule_id })).collect::<Vec<_>>(),
        }),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attributes OCSF 1.3.0 requires of a Detection Finding (class 2004).
    const REQUIRED: [&str; 11] = [
        "/activity_id",
        "/category_uid",
        "/class_uid",
        "/finding_info/uid",
        "/finding_info/title",
        "/metadata/product/vendor_name",
        "/metadata/version",
        "/severity_id",
        "/time",
        "/type_uid",
        "/status_id",
    ];

    #[test]
    fn an_alert_and_an_incident_are_detection_findings_with_every_required_attribute() {
        let incident = crate::incident::tests_support::hijacked_user_incident();
        let alert = crate::incident::sequence_alert(&incident).unwrap();
        for finding in [alert_finding(&alert), incident_finding(&incident)] {
            for path in REQUIRED {
                let v = finding.pointer(path);
                assert!(v.is_some_and(|v| !v.is_null()), "{path} missing in {finding}");
            }
            assert_eq!(finding["class_uid"], 2004);
            assert_eq!(finding["type_uid"], 200_401);
            assert_eq!(finding["severity_id"], 4, "high");
            let tactics: Vec<&str> = finding["finding_info"]["attacks"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a.pointer("/tactic/uid").and_then(Value::as_str))
                .collect();
            assert_eq!(tactics, ["TA0007", "TA0004", "TA0003"], "{finding}");
        }
    }
}
