//! Exceptions: scoped, owned, expiring reasons not to deliver an alert, kept in the lake.
//!
//! Quieting a rule by editing it loses the edit at the next pack upgrade and says nothing
//! of who decided it or until when. An exception is a row of the lake's `exceptions`
//! table: a rule (or `*`), a SQL condition over the alert's fields, a reason, an owner,
//! when it was made and when it expires (required, at most a year). A run records an alert
//! an exception matches with `suppressed_by` set to the exception's id: it is in the
//! `alerts` table, counted and visible (`detect --show-suppressed`, `alerts list
//! --suppressed`), but no sink delivers it and it joins no incident.
//!
//! The condition sees one row per alert ([`FACTS_SCHEMA`]): `rule_id`, `severity`,
//! `principal`, `identity`, and for accounts, source addresses, regions, event names and
//! user agents both the list (`source_ips`) and a single value (`source_ip`) that is set
//! only when the alert has exactly one. So `source_ip = '203.0.113.9'` never suppresses an
//! alert that also involves another address: an exception fails towards delivering.
//!
//! The table is a log: removing an exception appends its row again with `removed_at` set;
//! an exception's state is its newest row, and the history stays for audit.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;
pub use lake::EXCEPTIONS_TABLE;
use lake::Lake;
use serde::Serialize;

use crate::alert::{Alert, stable_id};
use crate::error::{DetectError, Result};

/// The longest an exception may last.
pub const MAX_LIFETIME_MICROS: i64 = 366 * 86_400_000_000;

/// One exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    pub exception_id: String,
    /// A rule id, or `*` for every rule.
    pub rule: String,
    /// A SQL condition over [`FACTS_SCHEMA`].
    pub condition: String,
    /// A SQL condition over the lake's `cloudtrail` rows (a Sigma filter's, compiled): when
    /// set, an alert is suppressed only if every event it lists matches it too.
    pub event_condition: Option<String>,
    pub reason: String,
    pub owner: String,
    #[serde(serialize_with = "as_rfc3339")]
    pub created_at: i64,
    #[serde(serialize_with = "as_rfc3339")]
    pub expires_at: i64,
    #[serde(serialize_with = "as_rfc3339_opt")]
    pub removed_at: Option<i64>,
    pub removed_by: Option<String>,
}

fn as_rfc3339<S: serde::Serializer>(micros: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::alert::rfc3339(*micros))
}

fn as_rfc3339_opt<S: serde::Serializer>(micros: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match micros {
        Some(m) => s.serialize_str(&crate::alert::rfc3339(*m)),
        None => s.serialize_none(),
    }
}

impl Exception {
    /// A new exception, checked: a reason and an owner, an expiry after `now` and at most
    /// [`MAX_LIFETIME_MICROS`] later, and a condition that parses as a boolean over the
    /// alert's fields.
    pub fn new(rule: &str, condition: &str, reason: &str, owner: &str, expires_at: i64, now: i64) -> Result<Exception> {
        let bad = |m: String| Err(DetectError::Exception(m));
        let (rule, condition, reason, owner) = (rule.trim(), condition.trim(), reason.trim(), owner.trim());
        if rule.is_empty() {
            return bad("an exception needs a rule id, or * for every rule".into());
        }
        if reason.is_empty() {
            return bad("an exception needs a reason (the next analyst reads it)".into());
        }
        if owner.is_empty() {
            return bad("an exception needs an owner (who answers for it)".into());
        }
        if expires_at <= now {
            return bad("an exception must expire in the future".into());
        }
        if expires_at - now > MAX_LIFETIME_MICROS {
            return bad("an exception may last at most a year: renew it when it expires".into());
        }
        check_condition(condition)?;
        let created = now.to_string();
        Ok(Exception {
            exception_id: stable_id(&["exception", rule, condition, owner, &created])[..16].to_string(),
            rule: rule.into(),
            condition: condition.into(),
            event_condition: None,
            reason: reason.into(),
            owner: owner.into(),
            created_at: now,
            expires_at,
            removed_at: None,
            removed_by: None,
        })
    }

    /// The exception, also requiring every event of a matching alert to satisfy `sql` (over
    /// a `cloudtrail` row), checked by planning it over the lake's schema.
    pub async fn with_events(mut self, sql: &str) -> Result<Exception> {
        check_event_condition(sql).await?;
        self.event_condition = Some(sql.to_string());
        Ok(self)
    }

    /// Whether it is about `rule_id`.
    pub fn covers(&self, rule_id: &str) -> bool {
        self.rule == "*" || self.rule == rule_id
    }

    /// Whether it applies at `now`: not removed, not expired.
    pub fn active_at(&self, now: i64) -> bool {
        self.removed_at.is_none() && now < self.expires_at
    }
}

/// The row an exception's condition sees for each alert.
pub static FACTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = lake::schema::timestamp_type();
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let l = |n: &str| Field::new(n, list.clone(), true);
    Arc::new(Schema::new(vec![
        s("alert_id"),
        s("rule_id"),
        s("severity"),
        s("title"),
        s("principal"),
        s("identity"),
        s("account"),
        l("accounts"),
        s("source_ip"),
        l("source_ips"),
        s("region"),
        l("regions"),
        s("event_name"),
        l("event_names"),
        s("user_agent"),
        l("user_agents"),
        Field::new("events", DataType::Int64, true),
        Field::new("first_seen", ts.clone(), true),
        Field::new("last_seen", ts, true),
        s("details"),
    ]))
});

/// The alerts as rows of [`FACTS_SCHEMA`].
pub fn facts(alerts: &[Alert]) -> Result<RecordBatch> {
    use crate::columns::{ints, lists as list_of, strings as text, times as time};
    let strings = |f: &dyn Fn(&Alert) -> Option<String>| text(alerts, f);
    let lists = |f: &dyn Fn(&Alert) -> &Vec<String>| list_of(alerts, |a| f(a).clone());
    let times = |f: &dyn Fn(&Alert) -> i64| time(alerts, f);
    // The single value when there is exactly one, else NULL (a condition on it then does not
    // match an alert that spans several).
    let only = |v: &Vec<String>| (v.len() == 1).then(|| v[0].clone());
    let columns: Vec<ArrayRef> = vec![
        strings(&|a| Some(a.alert_id.clone())),
        strings(&|a| Some(a.rule_id.clone())),
        strings(&|a| Some(a.severity.as_str().to_string())),
        strings(&|a| Some(a.title.clone())),
        strings(&|a| a.principal.clone()),
        strings(&|a| a.identity.clone()),
        strings(&|a| only(&a.accounts)),
        lists(&|a| &a.accounts),
        strings(&|a| only(&a.source_ips)),
        lists(&|a| &a.source_ips),
        strings(&|a| only(&a.regions)),
        lists(&|a| &a.regions),
        strings(&|a| only(&a.event_names)),
        lists(&|a| &a.event_names),
        strings(&|a| only(&a.user_agents)),
        lists(&|a| &a.user_agents),
        ints(alerts, |a| i64::try_from(a.events).unwrap_or(i64::MAX)),
        times(&|a| a.first_seen_micros),
        times(&|a| a.last_seen_micros),
        strings(&|a| Some(serde_json::Value::Object(a.details.clone()).to_string())),
    ];
    Ok(RecordBatch::try_new(FACTS_SCHEMA.clone(), columns)?)
}

/// A context with the query crate's functions (`cidr_match`, `arn_account`, ...).
fn context() -> Result<SessionContext> {
    Ok(query::new_context()?)
}

/// Parses `condition` as one boolean expression over [`FACTS_SCHEMA`]: a syntax error, an
/// unknown field or a non-boolean is refused with the reason.
pub fn check_condition(condition: &str) -> Result<()> {
    let refuse = |m: String| DetectError::Exception(format!("condition {condition:?}: {m}"));
    if condition.trim().is_empty() {
        return Err(refuse("empty: write e.g. source_ip = '203.0.113.9' (or `true` for the whole rule)".into()));
    }
    let ctx = context()?;
    let schema = DFSchema::try_from(FACTS_SCHEMA.as_ref().clone())?;
    let expr = ctx.parse_sql_expr(condition, &schema).map_err(|e| refuse(first_line(&e.to_string())))?;
    let plan = ctx
        .read_batch(RecordBatch::new_empty(FACTS_SCHEMA.clone()))
        .and_then(|df| df.filter(expr))
        .map_err(|e| refuse(first_line(&e.to_string())))?;
    drop(plan);
    Ok(())
}

/// Plans `sql` as a filter over the lake's `cloudtrail` rows: refused with the reason when
/// it does not plan.
pub async fn check_event_condition(sql: &str) -> Result<()> {
    let ctx = context()?;
    let empty = datafusion::datasource::MemTable::try_new(lake::schema::cloudtrail_schema(), vec![vec![]])?;
    ctx.register_table(lake::CLOUDTRAIL_TABLE, Arc::new(empty))?;
    let planned = ctx.sql(&format!("SELECT eventid FROM cloudtrail WHERE {sql}")).await;
    planned.map(|_| ()).map_err(|e| DetectError::Exception(format!("event condition: {}", first_line(&e.to_string()))))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Marks each alert the first active exception (by creation) matches with its id; returns
/// how many it marked. Alerts already marked keep their mark. `events`: a context with the
/// lake's `cloudtrail` table, for exceptions with an event condition (without it, such
/// exceptions suppress nothing).
pub async fn apply(
    exceptions: &[Exception],
    alerts: &mut [Alert],
    now: i64,
    events: Option<&SessionContext>,
) -> Result<usize> {
    let mut active: Vec<&Exception> = exceptions.iter().filter(|e| e.active_at(now)).collect();
    active.sort_by_key(|e| (e.created_at, e.exception_id.clone()));
    if active.is_empty() || alerts.is_empty() {
        return Ok(0);
    }
    let ctx = context()?;
    let schema = DFSchema::try_from(FACTS_SCHEMA.as_ref().clone())?;
    let mut marked = 0;
    for e in active {
        let open: Vec<usize> =
            (0..alerts.len()).filter(|&i| alerts[i].suppressed_by.is_none() && e.covers(&alerts[i].rule_id)).collect();
        if open.is_empty() {
            continue;
        }
        let subset: Vec<Alert> = open.iter().map(|&i| alerts[i].clone()).collect();
        // A condition that no longer plans (stored by an older build) suppresses nothing:
        // the alert is delivered and the problem logged.
        let expr = match ctx.parse_sql_expr(&e.condition, &schema) {
            Ok(expr) => expr,
            Err(err) => {
                tracing::warn!(exception = %e.exception_id, error = %err, "exception condition does not parse; ignored");
                continue;
            }
        };
        let matched = ctx.read_batch(facts(&subset)?)?.filter(expr)?.select_columns(&["alert_id"])?.collect().await;
        let matched = match matched {
            Ok(m) => m,
            Err(err) => {
                tracing::warn!(exception = %e.exception_id, error = %err, "exception condition failed; ignored");
                continue;
            }
        };
        let mut ids: std::collections::HashSet<String> = matched
            .iter()
            .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten().map(String::from).collect::<Vec<_>>())
            .collect();
        if let Some(sql) = &e.event_condition {
            let candidates: Vec<&Alert> =
                open.iter().map(|&i| &alerts[i]).filter(|a| ids.contains(&a.alert_id)).collect();
            let matching = match events {
                Some(ctx) => matching_events(ctx, sql, &candidates).await,
                None => Ok(Default::default()),
            };
            let matching = match matching {
                Ok(m) => m,
                Err(err) => {
                    tracing::warn!(exception = %e.exception_id, error = %err, "exception event condition failed; ignored");
                    continue;
                }
            };
            ids.retain(|id| {
                candidates
                    .iter()
                    .find(|a| &a.alert_id == id)
                    .is_some_and(|a| !a.event_ids.is_empty() && a.event_ids.iter().all(|ev| matching.contains(ev)))
            });
        }
        for i in open {
            if ids.contains(&alerts[i].alert_id) {
                alerts[i].suppressed_by = Some(e.exception_id.clone());
                marked += 1;
            }
        }
    }
    Ok(marked)
}

/// Of `alerts`' event ids, those whose event satisfies `sql`.
async fn matching_events(
    ctx: &SessionContext,
    sql: &str,
    alerts: &[&Alert],
) -> std::result::Result<std::collections::HashSet<String>, datafusion::error::DataFusionError> {
    let ids: Vec<String> =
        alerts.iter().flat_map(|a| a.event_ids.iter().map(|e| format!("'{}'", e.replace('\'', "''")))).collect();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let day = |m: i64| crate::alert::rfc3339(m.div_euclid(86_400_000_000) * 86_400_000_000)[..10].to_string();
    let from = alerts.iter().map(|a| a.first_seen_micros).min().unwrap_or(0);
    let to = alerts.iter().map(|a| a.last_seen_micros).max().unwrap_or(0);
    let query = format!(
        "SELECT eventid FROM {} WHERE eventid IN ({}) AND eventdate BETWEEN DATE '{}' AND DATE '{}' AND coalesce(({sql}), false)",
        lake::CLOUDTRAIL_TABLE,
        ids.join(", "),
        day(from),
        day(to)
    );
    let mut out = std::collections::HashSet::new();
    for b in ctx.sql(&query).await?.collect().await? {
        let c = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        out.extend(c.as_string::<i32>().iter().flatten().map(String::from));
    }
    Ok(out)
}

pub static EXCEPTION_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = lake::schema::timestamp_type();
    Arc::new(Schema::new(vec![
        Field::new("exception_id", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("condition", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("owner", DataType::Utf8, false),
        Field::new("created_at", ts.clone(), false),
        Field::new("expires_at", ts.clone(), false),
        Field::new("removed_at", ts.clone(), true),
        Field::new("removed_by", DataType::Utf8, true),
        // When this row was written: an exception's state is its newest row.
        Field::new("recorded_at", ts, false),
        Field::new("event_condition", DataType::Utf8, true),
    ]))
});

fn to_batch(e: &Exception, recorded_at: i64) -> Result<RecordBatch> {
    let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    let t = |v: Option<i64>| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(vec![v]).with_timezone("UTC")) };
    Ok(RecordBatch::try_new(
        EXCEPTION_SCHEMA.clone(),
        vec![
            s(&e.exception_id),
            s(&e.rule),
            s(&e.condition),
            s(&e.reason),
            s(&e.owner),
            t(Some(e.created_at)),
            t(Some(e.expires_at)),
            t(e.removed_at),
            Arc::new(StringArray::from(vec![e.removed_by.as_deref()])),
            t(Some(recorded_at)),
            Arc::new(StringArray::from(vec![e.event_condition.as_deref()])),
        ],
    )?)
}

/// Records a new exception (one commit; the table is created on first use).
pub async fn add(lake: &Lake, e: &Exception) -> Result<()> {
    lake.append(EXCEPTIONS_TABLE, vec![to_batch(e, e.created_at)?]).await?;
    Ok(())
}

/// Removes the exception `id` (its newest row appended again with `removed_at`); returns it.
pub async fn remove(lake: &Lake, id: &str, by: &str, now: i64) -> Result<Exception> {
    let Some(mut e) = load(lake).await?.into_iter().find(|e| e.exception_id == id) else {
        return Err(DetectError::Exception(format!("no exception {id} (`trailhouse exceptions list` shows them)")));
    };
    if e.removed_at.is_some() {
        return Err(DetectError::Exception(format!("exception {id} was already removed")));
    }
    e.removed_at = Some(now);
    e.removed_by = Some(by.to_string());
    lake.append(EXCEPTIONS_TABLE, vec![to_batch(&e, now)?]).await?;
    Ok(e)
}

/// Every exception's newest state (removed and expired ones included), oldest first.
pub async fn load(lake: &Lake) -> Result<Vec<Exception>> {
    let Some(table) = lake.try_table(EXCEPTIONS_TABLE).await? else { return Ok(vec![]) };
    let events = if table.snapshot().is_ok_and(|s| s.schema().field("event_condition").is_some()) {
        "event_condition"
    } else {
        "CAST(NULL AS VARCHAR) AS event_condition"
    };
    let sql = format!(
        "SELECT exception_id, rule, condition, reason, owner, created_at, expires_at, removed_at, removed_by, {events} \
         FROM (SELECT *, row_number() OVER (PARTITION BY exception_id ORDER BY recorded_at DESC) AS n FROM t) \
         WHERE n = 1 ORDER BY created_at, exception_id"
    );
    let mut out = Vec::new();
    for b in lake::read_table(&table, &sql).await? {
        let text = |i: usize| crate::columns::read_text(&b, i);
        let times = |i: usize| crate::columns::read_times(&b, i);
        let (ids, rules, conditions, reasons, owners) = (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
        let (created, expires, removed, removed_by) = (times(5)?, times(6)?, times(7)?, text(8)?);
        let event_conditions = text(9)?;
        for r in 0..b.num_rows() {
            out.push(Exception {
                exception_id: ids[r].clone().unwrap_or_default(),
                rule: rules[r].clone().unwrap_or_default(),
                condition: conditions[r].clone().unwrap_or_default(),
                event_condition: event_conditions[r].clone(),
                reason: reasons[r].clone().unwrap_or_default(),
                owner: owners[r].clone().unwrap_or_default(),
                created_at: created[r].unwrap_or_default(),
                expires_at: expires[r].unwrap_or_default(),
                removed_at: removed[r],
                removed_by: removed_by[r].clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;
    const NOW: i64 = 1_795_132_800_000_000;

    fn alert(id: &str, rule: &str, ips: &[&str]) -> Alert {
        Alert {
            alert_id: id.into(),
            rule_id: rule.into(),
            title: rule.into(),
            severity: crate::rule::Severity::Medium,
            dedup_key: String::new(),
            principal: Some("scanner".into()),
            identity: Some("arn:aws:iam::111122223333:role/scanner".into()),
            source_ips: ips.iter().map(|s| s.to_string()).collect(),
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into()],
            event_names: vec!["DescribeInstances".into()],
            user_agents: vec!["Prowler/4.0".into()],
            event_ids: vec![format!("e-{id}")],
            events: 1,
            first_seen: String::new(),
            last_seen: String::new(),
            first_seen_micros: NOW,
            last_seen_micros: NOW,
            details: Default::default(),
            mitre: vec![],
            tactics: vec![],
            controls: vec![],
            triage: String::new(),
            references: vec![],
            author: None,
            license: None,
            suppressed_by: None,
            shadow: false,
        }
    }

    fn exception(rule: &str, condition: &str) -> Exception {
        Exception::new(rule, condition, "the weekly Prowler scan", "secops@example.com", NOW + 30 * DAY, NOW).unwrap()
    }

    #[tokio::test]
    async fn an_exception_suppresses_only_the_alerts_its_rule_and_condition_match() {
        let e = exception("discovery-burst", "principal = 'scanner' AND user_agent LIKE 'Prowler/%'");
        let mut alerts = vec![
            alert("a1", "discovery-burst", &["10.0.0.5"]),
            alert("a2", "root-console-login", &["10.0.0.5"]),
            alert("a3", "discovery-burst", &["10.0.0.5"]),
        ];
        alerts[2].user_agents = vec!["aws-cli/2.15".into()];
        assert_eq!(apply(std::slice::from_ref(&e), &mut alerts, NOW, None).await.unwrap(), 1);
        assert_eq!(alerts[0].suppressed_by.as_deref(), Some(e.exception_id.as_str()));
        assert!(alerts[1].suppressed_by.is_none() && alerts[2].suppressed_by.is_none());
    }

    #[tokio::test]
    async fn a_single_value_condition_never_suppresses_an_alert_that_spans_several() {
        let e = exception("*", "source_ip = '10.0.0.5'");
        let mut alerts = vec![alert("one", "r", &["10.0.0.5"]), alert("two", "r", &["10.0.0.5", "203.0.113.9"])];
        assert_eq!(apply(&[e], &mut alerts, NOW, None).await.unwrap(), 1);
        assert!(alerts[1].suppressed_by.is_none(), "an alert also about another address is delivered");
        // The list form says what it means.
        let all = exception("*", "array_has(source_ips, '203.0.113.9')");
        assert_eq!(apply(&[all], &mut alerts, NOW, None).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn expired_and_removed_exceptions_stop_applying() {
        let mut e = exception("*", "true");
        let mut alerts = vec![alert("a", "r", &["10.0.0.5"])];
        assert_eq!(apply(std::slice::from_ref(&e), &mut alerts, NOW + 31 * DAY, None).await.unwrap(), 0, "expired");
        e.removed_at = Some(NOW);
        assert_eq!(apply(&[e], &mut alerts, NOW + DAY, None).await.unwrap(), 0, "removed");
    }

    #[test]
    fn a_bad_condition_an_unknown_field_a_missing_expiry_or_reason_is_refused_with_why() {
        let made = |cond: &str, expires: i64, reason: &str| {
            Exception::new("r", cond, reason, "me", expires, NOW).map(|_| ()).map_err(|e| e.to_string())
        };
        let err = made("source_ip = ", NOW + DAY, "x").unwrap_err();
        assert!(err.contains("condition"), "{err}");
        let err = made("sourceip = '1.2.3.4'", NOW + DAY, "x").unwrap_err();
        assert!(err.contains("sourceip"), "{err}");
        let err = made("events", NOW + DAY, "x").unwrap_err();
        assert!(err.contains("condition"), "{err}");
        assert!(made("true", NOW, "x").unwrap_err().contains("future"));
        assert!(made("true", NOW + 400 * DAY, "x").unwrap_err().contains("at most a year"));
        assert!(made("true", NOW + DAY, " ").unwrap_err().contains("reason"));
        assert!(made("cidr_match(source_ip, '10.0.0.0/8')", NOW + DAY, "x").is_ok());
    }
}
