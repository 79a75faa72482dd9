//! Incidents: the alerts about one identity within a window, as one story.
//!
//! An intrusion is several steps by one identity: a stolen key probes, enumerates its own
//! permissions, grants itself more, makes a second key. Each step may raise an alert of its
//! own rule; an analyst should meet them as one incident, in time order, with the ATT&CK
//! tactics they cover in kill-chain order and a score that rises with the progression, not
//! with the count. GuardDuty calls the same idea an attack sequence.
//!
//! - **Identity**: an alert's [`Alert::identity`], the actor's ARN with an assumed role's
//!   sessions folded into the role (a session is named per run) and an access key's calls
//!   into its user (CloudTrail names the user beside the key). Alerts with no identity (the
//!   lake's own integrity records) join no incident.
//! - **Grouping** ([`group`]): an identity's alerts in time order; an alert that starts more
//!   than the window (default 24 h) after the incident's last activity starts a new one.
//! - **Progression** ([`progression`]): the longest run of alerts whose kill-chain
//!   [`stage`]s rise strictly in time order (discovery, then privilege escalation, then
//!   persistence, then defense evasion, then exfiltration or impact).
//! - **Score** ([`Incident::score`]): each rule's highest severity weight, summed (a rule that
//!   fires 800 times counts once), times the progression squared: three rising steps score
//!   nine times the same alerts alone.
//! - **Attack sequence** ([`sequence_alert`]): an incident of at least two rules whose
//!   progression reaches three stages raises its own alert, `incident-attack-sequence`:
//!   high, or critical at four stages or when it ends in exfiltration or impact. Its id is
//!   the incident's and its severity's, so a rerun never raises it twice and an escalation
//!   to critical raises it once more.
//!
//! Incidents are derived: a run recomputes those of every identity its new alerts name,
//! from all their alerts (stored and new), and replaces that identity's rows of the lake's
//! `incidents` table in one commit. A rerun computes the same incidents with the same ids,
//! so they are never duplicated; a late alert joins (or merges) the incidents around it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, Float64Builder, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
pub use lake::INCIDENTS_TABLE;
use lake::{ALERTS_TABLE, Lake};
use serde::Serialize;

use crate::alert::{Alert, MAX_EVENT_IDS, rfc3339, stable_id};
use crate::error::Result;
use crate::rule::{Severity, Tactic};

/// The rule id of the alert an incident raises when its tactics progress.
pub const SEQUENCE_RULE: &str = "incident-attack-sequence";

/// The default window: an alert more than this long after an incident's last activity
/// starts a new incident.
pub const DEFAULT_WINDOW_MICROS: i64 = 24 * 3_600_000_000;

/// What to do about an attack-sequence alert.
pub const SEQUENCE_TRIAGE: &str = "One identity's alerts progress through the kill chain. Read the steps in \
    order (`trailhouse incidents show ID`): who the identity is, where it acted from, whether each step was a \
    planned change. If any step is not, treat the identity's credentials as stolen: deactivate its keys, revoke \
    its sessions, and review what it changed.";

/// How far tactics must progress before an incident raises [`SEQUENCE_RULE`].
pub const SEQUENCE_STAGES: usize = 3;

/// One alert as an incident sees it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Step {
    pub alert_id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub tactics: Vec<Tactic>,
    pub principal: Option<String>,
    pub accounts: Vec<String>,
    pub source_ips: Vec<String>,
    pub regions: Vec<String>,
    pub events: u64,
    #[serde(skip)]
    pub event_ids: Vec<String>,
    #[serde(rename = "first_seen", serialize_with = "as_rfc3339", deserialize_with = "from_rfc3339")]
    pub first_seen_micros: i64,
    #[serde(rename = "last_seen", serialize_with = "as_rfc3339", deserialize_with = "from_rfc3339")]
    pub last_seen_micros: i64,
    #[serde(skip)]
    identity: String,
}

fn from_rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    lake::time::parse_canonical(&text)
        .or_else(|| lake::time::parse_lenient(&text))
        .ok_or_else(|| serde::de::Error::custom(format!("not a time: {text}")))
}

fn as_rfc3339<S: serde::Serializer>(micros: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*micros))
}

impl Step {
    /// The step an alert is, or `None` for an alert about no identity, one not delivered
    /// (an exception judged it benign, or its rule is in shadow mode), or an attack
    /// sequence alert itself (about an incident, not a step of one).
    pub fn of(a: &Alert) -> Option<Step> {
        let identity = a.identity.clone().filter(|i| !i.is_empty())?;
        (a.rule_id != SEQUENCE_RULE && a.delivered()).then(|| Step {
            alert_id: a.alert_id.clone(),
            rule_id: a.rule_id.clone(),
            title: a.title.clone(),
            severity: a.severity,
            tactics: a.tactics.clone(),
            principal: a.principal.clone(),
            accounts: a.accounts.clone(),
            source_ips: a.source_ips.clone(),
            regions: a.regions.clone(),
            events: a.events,
            event_ids: a.event_ids.clone(),
            first_seen_micros: a.first_seen_micros,
            last_seen_micros: a.last_seen_micros,
            identity,
        })
    }
}

/// One incident: an identity's alerts within the window of each other.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Incident {
    /// Stable: the identity's and its first alert's, so a rerun gives the same id.
    pub incident_id: String,
    /// The actor's ARN (a role for its sessions).
    pub identity: String,
    /// The readable name of the actor of its first alert.
    pub principal: Option<String>,
    pub accounts: Vec<String>,
    #[serde(rename = "first_seen", serialize_with = "as_rfc3339", deserialize_with = "from_rfc3339")]
    pub first_seen_micros: i64,
    #[serde(rename = "last_seen", serialize_with = "as_rfc3339", deserialize_with = "from_rfc3339")]
    pub last_seen_micros: i64,
    /// The highest severity of its alerts.
    pub severity: Severity,
    /// The tactics its alerts cover, in kill-chain order ([`stage`]).
    pub tactics: Vec<Tactic>,
    /// The longest strictly rising run of stages in time order ([`progression`]).
    pub progression: usize,
    pub score: f64,
    /// Its alerts in time order.
    pub steps: Vec<Step>,
}

/// Where a tactic sits in a cloud intrusion's usual order: getting in (1), looking around
/// (2), gaining rights (3), staying (4), hiding and gathering (5), taking or breaking (6).
pub fn stage(t: Tactic) -> u8 {
    match t {
        Tactic::InitialAccess | Tactic::CredentialAccess => 1,
        Tactic::Discovery => 2,
        Tactic::Execution | Tactic::PrivilegeEscalation => 3,
        Tactic::Persistence | Tactic::LateralMovement => 4,
        Tactic::DefenseEvasion | Tactic::Collection => 5,
        Tactic::Exfiltration | Tactic::Impact => 6,
    }
}

/// The weight of one rule's alerts in a score.
pub fn weight(s: Severity) -> f64 {
    match s {
        Severity::Info => 0.5,
        Severity::Low => 1.0,
        Severity::Medium => 3.0,
        Severity::High => 7.0,
        Severity::Critical => 15.0,
    }
}

/// The longest chain of steps, taken in time order, whose stages rise strictly (each step
/// counted at one of its tactics' stages). 0 for steps without tactics. Also whether some
/// longest chain ends at the last stage (exfiltration or impact).
pub fn progression(steps: &[Step]) -> (usize, bool) {
    // best[s]: the longest chain ending at stage s so far.
    let mut best = [0usize; 7];
    for step in steps {
        let stages: BTreeSet<usize> = step.tactics.iter().map(|&t| usize::from(stage(t))).collect();
        // A step extends chains of the steps before it, never one through itself.
        let found: Vec<(usize, usize)> =
            stages.iter().map(|&s| (s, 1 + best[..s].iter().copied().max().unwrap_or(0))).collect();
        for (s, n) in found {
            best[s] = best[s].max(n);
        }
    }
    let longest = best.iter().copied().max().unwrap_or(0);
    (longest, longest > 0 && best[6] == longest)
}

impl Incident {
    fn from_steps(identity: String, mut steps: Vec<Step>) -> Incident {
        steps.sort_by(|a, b| (a.first_seen_micros, &a.alert_id).cmp(&(b.first_seen_micros, &b.alert_id)));
        let (progression, _) = progression(&steps);
        let tactics: BTreeSet<(u8, Tactic)> =
            steps.iter().flat_map(|s| s.tactics.iter().map(|&t| (stage(t), t))).collect();
        let accounts: BTreeSet<String> = steps.iter().flat_map(|s| s.accounts.iter().cloned()).collect();
        let mut incident = Incident {
            incident_id: stable_id(&["incident", &identity, &steps[0].alert_id]),
            principal: steps.iter().find_map(|s| s.principal.clone()),
            accounts: accounts.into_iter().collect(),
            first_seen_micros: steps.iter().map(|s| s.first_seen_micros).min().unwrap_or(0),
            last_seen_micros: steps.iter().map(|s| s.last_seen_micros).max().unwrap_or(0),
            severity: steps.iter().map(|s| s.severity).max().unwrap_or(Severity::Info),
            tactics: tactics.into_iter().map(|(_, t)| t).collect(),
            progression,
            score: 0.0,
            identity,
            steps,
        };
        incident.score = incident.score();
        incident
    }

    /// Each rule's highest severity weight, summed, times the progression squared (at least
    /// one): rising tactics score far above the same alerts alone.
    pub fn score(&self) -> f64 {
        let mut per_rule: BTreeMap<&str, f64> = BTreeMap::new();
        for s in &self.steps {
            let w = per_rule.entry(&s.rule_id).or_default();
            *w = w.max(weight(s.severity));
        }
        let base: f64 = per_rule.values().sum();
        let p = self.progression.max(1) as f64;
        (base * p * p * 10.0).round() / 10.0
    }

    /// The rules of its steps, each once, in the order they first fired.
    pub fn rules(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.steps.iter().map(|s| s.rule_id.as_str()).filter(|r| seen.insert(*r)).collect()
    }
}

/// Groups steps into incidents: per identity, in time order, a step more than `window`
/// after the current incident's last activity starts a new one. Incidents come out ordered
/// by identity, then time.
pub fn group(steps: Vec<Step>, window: i64) -> Vec<Incident> {
    let mut by_identity: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for s in steps {
        if seen.insert(s.alert_id.clone()) {
            by_identity.entry(s.identity.clone()).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for (identity, mut steps) in by_identity {
        steps.sort_by(|a, b| (a.first_seen_micros, &a.alert_id).cmp(&(b.first_seen_micros, &b.alert_id)));
        let mut current: Vec<Step> = Vec::new();
        let mut last = i64::MIN;
        for s in steps {
            if !current.is_empty() && s.first_seen_micros > last.saturating_add(window) {
                out.push(Incident::from_steps(identity.clone(), std::mem::take(&mut current)));
                last = i64::MIN;
            }
            last = last.max(s.last_seen_micros);
            current.push(s);
        }
        if !current.is_empty() {
            out.push(Incident::from_steps(identity.clone(), current));
        }
    }
    out
}

/// The distinct values of a list field over an incident's steps, sorted.
fn union(i: &Incident, f: impl Fn(&Step) -> &Vec<String>) -> Vec<String> {
    i.steps.iter().flat_map(|s| f(s).iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// The alert an incident raises when its tactics progress through at least
/// [`SEQUENCE_STAGES`] stages across at least two rules, else `None`.
pub fn sequence_alert(i: &Incident) -> Option<Alert> {
    let (stages, ends_in_impact) = progression(&i.steps);
    let rules = i.rules();
    if stages < SEQUENCE_STAGES || rules.len() < 2 {
        return None;
    }
    let severity = if stages > SEQUENCE_STAGES || ends_in_impact { Severity::Critical } else { Severity::High };
    let chain: Vec<&str> = i.tactics.iter().map(|t| t.title()).collect();
    let mut details = serde_json::Map::new();
    details.insert("incident_id".into(), i.incident_id.clone().into());
    details.insert("tactics".into(), chain.join(" -> ").into());
    details.insert("steps".into(), rules.join(", ").into());
    details.insert("score".into(), i.score.into());
    Some(Alert {
        alert_id: stable_id(&[SEQUENCE_RULE, &i.incident_id, severity.as_str()]),
        rule_id: SEQUENCE_RULE.to_string(),
        title: format!("Attack sequence: {} ({})", i.principal.as_deref().unwrap_or(&i.identity), chain.join(" -> ")),
        severity,
        dedup_key: format!("incident_id={}", i.incident_id),
        principal: i.principal.clone(),
        identity: Some(i.identity.clone()),
        source_ips: union(i, |s| &s.source_ips),
        accounts: i.accounts.clone(),
        regions: union(i, |s| &s.regions),
        event_names: vec![],
        user_agents: vec![],
        // Each step's first two events, each event once (two steps can share one: a
        // sign-in that is both a step and the start of the next).
        event_ids: {
            let mut seen = std::collections::HashSet::new();
            i.steps
                .iter()
                .flat_map(|s| s.event_ids.iter().take(2).cloned())
                .filter(|e| seen.insert(e.clone()))
                .take(MAX_EVENT_IDS)
                .collect()
        },
        events: i.steps.iter().map(|s| s.events).sum(),
        first_seen: rfc3339(i.first_seen_micros),
        last_seen: rfc3339(i.last_seen_micros),
        first_seen_micros: i.first_seen_micros,
        last_seen_micros: i.last_seen_micros,
        details,
        mitre: i.tactics.iter().map(|t| t.mitre_id().to_string()).collect(),
        tactics: i.tactics.clone(),
        controls: vec![],
        triage: SEQUENCE_TRIAGE.into(),
        references: vec![
            "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty-attack-sequence-finding-types.html".into(),
        ],
        author: None,
        license: None,
        suppressed_by: None,
        shadow: false,
    })
}

/// A run's incidents: those of every identity its new alerts name, recomputed from all of
/// that identity's alerts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Incidents {
    /// The identities recomputed: their rows of the `incidents` table are replaced.
    pub identities: Vec<String>,
    pub incidents: Vec<Incident>,
}

/// Recomputes the incidents of every identity that `new` alerts name, from their alerts
/// already in the lake and `new`. Reads the `alerts` table; writes nothing ([`store`] does).
pub async fn assemble(lake: &Lake, new: &[Alert], window: i64) -> Result<Incidents> {
    let fresh: Vec<Step> = new.iter().filter_map(Step::of).collect();
    let identities: BTreeSet<String> = fresh.iter().map(|s| s.identity.clone()).collect();
    if identities.is_empty() {
        return Ok(Incidents::default());
    }
    let mut steps = stored_steps(lake, &identities).await?;
    steps.extend(fresh);
    Ok(Incidents { identities: identities.into_iter().collect(), incidents: group(steps, window) })
}

fn quoted_list<'a>(values: impl IntoIterator<Item = &'a String>) -> String {
    values.into_iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect::<Vec<_>>().join(", ")
}

/// The stored alerts of `identities` as steps (none from an alerts table written before
/// alerts named their identity).
async fn stored_steps(lake: &Lake, identities: &BTreeSet<String>) -> Result<Vec<Step>> {
    let Some(table) = lake.try_table(ALERTS_TABLE).await? else { return Ok(vec![]) };
    let has = |c: &str| table.snapshot().is_ok_and(|s| s.schema().field(c).is_some());
    if !has("identity") || !has("tactics") {
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT alert_id, rule_id, title, severity, tactics, principal, accounts, events, event_ids, first_seen, \
         last_seen, identity, source_ips, regions FROM t WHERE identity IN ({}) AND rule_id <> '{SEQUENCE_RULE}' \
         AND {}",
        quoted_list(identities),
        match (has("suppressed_by"), has("shadow")) {
            (true, true) => "suppressed_by IS NULL AND shadow IS NOT TRUE",
            (true, false) => "suppressed_by IS NULL",
            _ => "true",
        }
    );
    let mut out = Vec::new();
    for b in lake::read_table(&table, &sql).await? {
        let text = |i: usize| crate::columns::read_text(&b, i);
        let lists = |i: usize| crate::columns::read_lists(&b, i);
        let times = |i: usize| -> Result<Vec<i64>> {
            Ok(crate::columns::read_times(&b, i)?.into_iter().map(Option::unwrap_or_default).collect())
        };
        let (ids, rules, titles, severities) = (text(0)?, text(1)?, text(2)?, text(3)?);
        let (tactics, principals, accounts) = (lists(4)?, text(5)?, lists(6)?);
        let events = arrow::compute::cast(b.column(7), &DataType::Int64)?;
        let events = events.as_primitive::<arrow::datatypes::Int64Type>();
        let (event_ids, first, last, identity) = (lists(8)?, times(9)?, times(10)?, text(11)?);
        let (source_ips, regions) = (lists(12)?, lists(13)?);
        for r in 0..b.num_rows() {
            let (Some(alert_id), Some(identity)) = (ids[r].clone(), identity[r].clone()) else { continue };
            out.push(Step {
                alert_id,
                rule_id: rules[r].clone().unwrap_or_default(),
                title: titles[r].clone().unwrap_or_default(),
                severity: severities[r].as_deref().and_then(parse_enum).unwrap_or(Severity::Info),
                tactics: tactics[r].iter().filter_map(|t| Tactic::from_name(t)).collect(),
                principal: principals[r].clone(),
                accounts: accounts[r].clone(),
                source_ips: source_ips[r].clone(),
                regions: regions[r].clone(),
                events: if events.is_null(r) { 0 } else { events.value(r).max(0) as u64 },
                event_ids: event_ids[r].clone(),
                first_seen_micros: first[r],
                last_seen_micros: last[r],
                identity,
            });
        }
    }
    Ok(out)
}

/// A serde enum from its name (`"high"`, `"privilege_escalation"`).
fn parse_enum<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

pub static INCIDENT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = lake::schema::timestamp_type();
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    Arc::new(Schema::new(vec![
        Field::new("incident_id", DataType::Utf8, false),
        Field::new("identity", DataType::Utf8, false),
        Field::new("principal", DataType::Utf8, true),
        Field::new("accounts", list.clone(), true),
        Field::new("first_seen", ts.clone(), false),
        Field::new("last_seen", ts.clone(), false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("progression", DataType::Int64, false),
        Field::new("tactics", list.clone(), true),
        Field::new("alerts", DataType::Int64, false),
        Field::new("alert_ids", list.clone(), true),
        Field::new("rules", list, true),
        // The steps as JSON (alert id, rule, title, severity, tactics, first/last seen).
        Field::new("steps", DataType::Utf8, false),
        Field::new("updated_at", ts, false),
        Field::new("run_id", DataType::Utf8, true),
    ]))
});

/// Incidents as one batch of the `incidents` table.
pub fn to_batch(incidents: &[Incident], updated_at: i64, run_id: &str) -> Result<RecordBatch> {
    use crate::columns::{ints as int, lists as list_of, strings as text, times as time};
    let strings = |f: &dyn Fn(&Incident) -> Option<String>| text(incidents, f);
    let lists = |f: &dyn Fn(&Incident) -> Vec<String>| list_of(incidents, f);
    let times = |f: &dyn Fn(&Incident) -> i64| time(incidents, f);
    let ints = |f: &dyn Fn(&Incident) -> i64| int(incidents, f);
    let mut score = Float64Builder::with_capacity(incidents.len());
    incidents.iter().for_each(|i| score.append_value(i.score));
    let columns: Vec<ArrayRef> = vec![
        strings(&|i| Some(i.incident_id.clone())),
        strings(&|i| Some(i.identity.clone())),
        strings(&|i| i.principal.clone()),
        lists(&|i| i.accounts.clone()),
        times(&|i| i.first_seen_micros),
        times(&|i| i.last_seen_micros),
        strings(&|i| Some(i.severity.as_str().to_string())),
        Arc::new(score.finish()),
        ints(&|i| i.progression as i64),
        lists(&|i| i.tactics.iter().map(|t| t.name().to_string()).collect()),
        ints(&|i| i.steps.len() as i64),
        lists(&|i| i.steps.iter().map(|s| s.alert_id.clone()).collect()),
        lists(&|i| i.rules().into_iter().map(String::from).collect()),
        strings(&|i| serde_json::to_string(&i.steps).ok()),
        times(&|_| updated_at),
        strings(&|_| Some(run_id.to_string())),
    ];
    Ok(RecordBatch::try_new(INCIDENT_SCHEMA.clone(), columns)?)
}

/// Replaces the `incidents` rows of the recomputed identities with their incidents: one
/// commit (the table is created on first use).
pub async fn store(lake: &Lake, incidents: &Incidents, updated_at: i64, run_id: &str) -> Result<()> {
    if incidents.identities.is_empty() {
        return Ok(());
    }
    let batch = to_batch(&incidents.incidents, updated_at, run_id)?;
    match lake.try_table(INCIDENTS_TABLE).await? {
        None => {
            lake.append(INCIDENTS_TABLE, vec![batch]).await?;
        }
        Some(_) => {
            let predicate = format!("identity IN ({})", quoted_list(&incidents.identities));
            lake.replace_where(INCIDENTS_TABLE, &predicate, vec![batch]).await?;
        }
    }
    Ok(())
}

/// An incident for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// The hijacked user's three-stage incident (discovery, privilege escalation,
    /// persistence).
    pub(crate) fn hijacked_user_incident() -> super::Incident {
        super::group(super::tests::hijacked_user(), super::DEFAULT_WINDOW_MICROS).remove(0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn step(id: &str, identity: &str, rule: &str, severity: Severity, tactics: &[Tactic], at_hour: i64) -> Step {
        Step {
            alert_id: id.into(),
            rule_id: rule.into(),
            title: rule.into(),
            severity,
            tactics: tactics.to_vec(),
            principal: Some(identity.rsplit('/').next().unwrap_or(identity).into()),
            accounts: vec!["111122223333".into()],
            source_ips: vec!["203.0.113.66".into()],
            regions: vec!["us-east-1".into()],
            events: 1,
            event_ids: vec![format!("ev-{id}")],
            first_seen_micros: at_hour * HOUR,
            last_seen_micros: at_hour * HOUR + 60_000_000,
            identity: identity.into(),
        }
    }

    const BOB: &str = "arn:aws:iam::111122223333:user/bob";
    const CI: &str = "arn:aws:iam::111122223333:role/ci";

    /// The hijacked user's story: denied probing and self-enumeration (discovery), an inline
    /// policy on itself (privilege escalation), a second key (persistence).
    pub(crate) fn hijacked_user() -> Vec<Step> {
        vec![
            step("a3", BOB, "self-policy", Severity::High, &[Tactic::PrivilegeEscalation], 3),
            step("a1", BOB, "self-enumeration", Severity::Medium, &[Tactic::Discovery], 1),
            step("a2", BOB, "access-denied-burst", Severity::Low, &[Tactic::Discovery], 2),
            step("a4", BOB, "second-access-key", Severity::High, &[Tactic::Persistence], 4),
        ]
    }

    #[test]
    fn one_identitys_alerts_within_the_window_are_one_incident_in_time_order() {
        let mut steps = hijacked_user();
        steps.push(step("c1", CI, "new-region", Severity::Low, &[Tactic::DefenseEvasion], 2));
        let incidents = group(steps, DEFAULT_WINDOW_MICROS);
        assert_eq!(incidents.len(), 2);
        let bob = incidents.iter().find(|i| i.identity == BOB).unwrap();
        let order: Vec<&str> = bob.steps.iter().map(|s| s.alert_id.as_str()).collect();
        assert_eq!(order, ["a1", "a2", "a3", "a4"]);
        assert_eq!(bob.tactics, [Tactic::Discovery, Tactic::PrivilegeEscalation, Tactic::Persistence]);
        assert_eq!(bob.progression, 3);
        assert_eq!(bob.severity, Severity::High);
        assert_eq!(bob.first_seen_micros, HOUR);
    }

    #[test]
    fn a_gap_longer_than_the_window_starts_a_new_incident() {
        let steps = vec![
            step("a1", BOB, "r1", Severity::Low, &[Tactic::Discovery], 0),
            step("a2", BOB, "r2", Severity::Low, &[Tactic::Discovery], 20),
            step("a3", BOB, "r3", Severity::Low, &[Tactic::Discovery], 45),
        ];
        let incidents = group(steps.clone(), DEFAULT_WINDOW_MICROS);
        assert_eq!(incidents.iter().map(|i| i.steps.len()).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(group(steps, 48 * HOUR).len(), 1);
    }

    #[test]
    fn rising_tactics_score_far_above_the_same_alerts_alone_and_repeats_count_once() {
        let story = group(hijacked_user(), DEFAULT_WINDOW_MICROS).remove(0);
        let alone: f64 =
            hijacked_user().into_iter().map(|s| group(vec![s], DEFAULT_WINDOW_MICROS).remove(0).score).sum();
        assert!(story.score > 4.0 * alone, "{} vs {alone}", story.score);
        // The same rule firing a hundred times is one rule's weight, not a hundred.
        let noisy: Vec<Step> =
            (0..100).map(|n| step(&format!("n{n}"), CI, "noisy", Severity::Medium, &[Tactic::Discovery], 0)).collect();
        assert_eq!(group(noisy, DEFAULT_WINDOW_MICROS)[0].score, weight(Severity::Medium));
    }

    #[test]
    fn progression_needs_rising_stages_in_time_order() {
        // Persistence before discovery does not progress.
        let backwards = vec![
            step("b1", BOB, "r1", Severity::High, &[Tactic::Persistence], 1),
            step("b2", BOB, "r2", Severity::High, &[Tactic::PrivilegeEscalation], 2),
            step("b3", BOB, "r3", Severity::High, &[Tactic::Discovery], 3),
        ];
        assert_eq!(progression(&backwards), (1, false));
        // One alert with several tactics is one step, never a chain by itself.
        let many = vec![step("m", BOB, "r", Severity::High, &[Tactic::Discovery, Tactic::Persistence], 1)];
        assert_eq!(progression(&many).0, 1);
        let to_impact = vec![
            step("i1", BOB, "r1", Severity::Low, &[Tactic::Discovery], 1),
            step("i2", BOB, "r2", Severity::Low, &[Tactic::Collection], 2),
            step("i3", BOB, "r3", Severity::Low, &[Tactic::Impact], 3),
        ];
        assert_eq!(progression(&to_impact), (3, true));
    }

    #[test]
    fn a_progressing_incident_raises_a_sequence_alert_stable_across_reruns() {
        let incident = group(hijacked_user(), DEFAULT_WINDOW_MICROS).remove(0);
        let alert = sequence_alert(&incident).expect("three stages across rules");
        assert_eq!(alert.rule_id, SEQUENCE_RULE);
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.identity.as_deref(), Some(BOB));
        assert!(alert.title.contains("Discovery -> Privilege Escalation -> Persistence"), "{}", alert.title);
        let again = sequence_alert(&group(hijacked_user(), DEFAULT_WINDOW_MICROS).remove(0)).unwrap();
        assert_eq!(again.alert_id, alert.alert_id);
        // A fourth stage makes it critical, under a new id (raised once more).
        let mut more = hijacked_user();
        more.push(step("a5", BOB, "trail-stopped", Severity::High, &[Tactic::DefenseEvasion], 5));
        let escalated = sequence_alert(&group(more, DEFAULT_WINDOW_MICROS).remove(0)).unwrap();
        assert_eq!(escalated.severity, Severity::Critical);
        assert_ne!(escalated.alert_id, alert.alert_id);
        // Two stages, or one rule, raise nothing.
        let short = hijacked_user().into_iter().take(2).collect();
        assert!(sequence_alert(&group(short, DEFAULT_WINDOW_MICROS).remove(0)).is_none());
    }

    #[test]
    fn alerts_about_no_identity_and_sequence_alerts_are_not_steps() {
        let incident = group(hijacked_user(), DEFAULT_WINDOW_MICROS).remove(0);
        let seq = sequence_alert(&incident).unwrap();
        assert!(Step::of(&seq).is_none());
        let mut integrity = seq.clone();
        integrity.rule_id = "digest-missing".into();
        integrity.identity = None;
        assert!(Step::of(&integrity).is_none());
    }
}
