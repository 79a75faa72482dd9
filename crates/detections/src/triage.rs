//! Alert triage: what an analyst decided about an alert (open, acknowledged, closed with a
//! note and a reason), who it is assigned to, and who changed it from where, kept in the
//! lake's `alert_triage` table so it survives restarts and is there for SQL (`SELECT * FROM
//! alert_triage`). The table is a log and the audit trail: one row per change (who, when,
//! what), an alert's state is its newest row; an alert never triaged is open.

use std::sync::{Arc, LazyLock};

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lake::{Lake, TRIAGE_TABLE};

use crate::error::{DetectError, Result};

/// An alert's triage state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriageState {
    Open,
    Acknowledged,
    Closed,
}

impl TriageState {
    pub const ALL: [TriageState; 3] = [TriageState::Open, TriageState::Acknowledged, TriageState::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            TriageState::Open => "open",
            TriageState::Acknowledged => "acknowledged",
            TriageState::Closed => "closed",
        }
    }
}

impl std::str::FromStr for TriageState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        TriageState::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown triage state {s:?}: use open, acknowledged or closed"))
    }
}

/// Why an alert was closed: what the next analyst and the rule's author read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// It was what the rule looks for.
    TruePositive,
    /// Real activity, expected and harmless (an exception may keep it quiet next time).
    Benign,
    /// Another alert already covers it.
    Duplicate,
    /// The rule is wrong here: its author should change it.
    TuningNeeded,
}

impl CloseReason {
    pub const ALL: [CloseReason; 4] =
        [CloseReason::TruePositive, CloseReason::Benign, CloseReason::Duplicate, CloseReason::TuningNeeded];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TruePositive => "true_positive",
            CloseReason::Benign => "benign",
            CloseReason::Duplicate => "duplicate",
            CloseReason::TuningNeeded => "tuning_needed",
        }
    }
}

impl std::str::FromStr for CloseReason {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        CloseReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown close reason {s:?}: use true_positive, benign, duplicate or tuning_needed"))
    }
}

/// One change of an alert's state: a row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageChange {
    pub alert_id: String,
    pub state: TriageState,
    pub note: Option<String>,
    /// Microseconds since the epoch (UTC).
    pub at: i64,
    /// Why it was closed (closed only).
    pub reason: Option<CloseReason>,
    /// Who now owns the alert (`None`: unchanged from before; `Some("")`: nobody).
    pub assignee: Option<String>,
    /// Who made the change, as they named themselves (the console's "you", the CLI's
    /// `--by` or `$USER`); `None` for the detection run's own closes.
    pub actor: Option<String>,
    /// Where from: `console 127.0.0.1`, `cli`, `detect`.
    pub via: Option<String>,
}

pub static TRIAGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("at", lake::schema::timestamp_type(), false),
        // Added with the audit trail: older lakes gain them at the next change.
        Field::new("reason", DataType::Utf8, true),
        Field::new("assignee", DataType::Utf8, true),
        Field::new("actor", DataType::Utf8, true),
        Field::new("via", DataType::Utf8, true),
    ]))
});

impl TriageChange {
    /// A change made now; closing needs a note (why it was closed is what the next
    /// analyst reads).
    pub fn now(alert_id: &str, state: TriageState, note: Option<&str>) -> Result<TriageChange> {
        let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
        if state == TriageState::Closed && note.is_none() {
            return Err(DetectError::Triage("closing an alert needs a note saying why".into()));
        }
        if alert_id.is_empty() {
            return Err(DetectError::Triage("no alert id".into()));
        }
        let at = lake::time::now_micros();
        Ok(TriageChange {
            alert_id: alert_id.to_string(),
            state,
            note,
            at,
            reason: None,
            assignee: None,
            actor: None,
            via: None,
        })
    }

    /// With a close reason (only a close has one).
    pub fn with_reason(mut self, reason: Option<CloseReason>) -> Result<TriageChange> {
        if reason.is_some() && self.state != TriageState::Closed {
            return Err(DetectError::Triage("a reason is given only when closing an alert".into()));
        }
        self.reason = reason;
        Ok(self)
    }

    /// With who made the change and from where (trimmed; empty is no one).
    pub fn by(mut self, actor: Option<&str>, via: &str) -> TriageChange {
        self.actor = actor.map(str::trim).filter(|a| !a.is_empty()).map(String::from);
        self.via = Some(via.to_string());
        self
    }

    /// Assigned to `assignee` (`Some("")` unassigns).
    pub fn assigned(mut self, assignee: Option<&str>) -> TriageChange {
        self.assignee = assignee.map(|a| a.trim().to_string());
        self
    }
}

fn to_batch(changes: &[TriageChange]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&TriageChange) -> Option<&str>| Arc::new(StringArray::from_iter(changes.iter().map(f)));
    Ok(RecordBatch::try_new(
        TRIAGE_SCHEMA.clone(),
        vec![
            text(&|c| Some(c.alert_id.as_str())),
            text(&|c| Some(c.state.as_str())),
            text(&|c| c.note.as_deref()),
            Arc::new(TimestampMicrosecondArray::from_iter_values(changes.iter().map(|c| c.at)).with_timezone("UTC")),
            text(&|c| c.reason.map(CloseReason::as_str)),
            text(&|c| c.assignee.as_deref()),
            text(&|c| c.actor.as_deref()),
            text(&|c| c.via.as_deref()),
        ],
    )?)
}

/// Appends `change` to the lake's `alert_triage` table (created on first use): one commit.
pub async fn record(lake: &Lake, change: &TriageChange) -> Result<u64> {
    record_all(lake, std::slice::from_ref(change)).await
}

/// Appends every change in one commit (a bulk acknowledge or close): one audit row per
/// alert. A table from before the audit columns gains them first.
pub async fn record_all(lake: &Lake, changes: &[TriageChange]) -> Result<u64> {
    if lake.try_table(TRIAGE_TABLE).await?.is_some() {
        lake.evolve_table(TRIAGE_TABLE, &TRIAGE_SCHEMA).await?;
    }
    Ok(lake.append(TRIAGE_TABLE, vec![to_batch(changes)?]).await?)
}

/// Which triage table the lake has: none yet, one from before the audit columns
/// (`reason`, `assignee`, `actor`, `via`: added at its next change), or a current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriageTable {
    Missing,
    WithoutAudit,
    Current,
}

/// Which triage table `session`'s lake has.
pub async fn triage_table(session: &query::LakeSession) -> Result<TriageTable> {
    let state = session.context().state();
    let has = match state.schema_for_ref(TRIAGE_TABLE) {
        Ok(schema) => schema.table(TRIAGE_TABLE).await.ok().flatten().is_some(),
        Err(_) => false,
    };
    Ok(if !has {
        TriageTable::Missing
    } else if session.sql(&format!("SELECT assignee FROM {TRIAGE_TABLE} LIMIT 0")).await.is_ok() {
        TriageTable::Current
    } else {
        TriageTable::WithoutAudit
    })
}

/// SQL for the FROM clause of alerts with their triage: `alerts a` joined with `t`, each
/// alert's newest state (`t.state`, NULL for an alert never triaged: open), its note, time
/// and close reason, and `t.assignee`, the newest assignee given (a change without one
/// keeps it; an empty one unassigns: NULL). The console and `trailhouse alerts` read alerts
/// through it.
pub fn alerts_with_state(table: TriageTable) -> String {
    let latest = match table {
        TriageTable::Missing => "SELECT CAST(NULL AS VARCHAR) AS alert_id, CAST(NULL AS VARCHAR) AS state, \
             CAST(NULL AS VARCHAR) AS note, CAST(NULL AS TIMESTAMP) AS at, CAST(NULL AS VARCHAR) AS reason, \
             CAST(NULL AS VARCHAR) AS assignee WHERE false"
            .to_string(),
        TriageTable::WithoutAudit => format!(
            "SELECT alert_id, state, note, at, CAST(NULL AS VARCHAR) AS reason, CAST(NULL AS VARCHAR) AS assignee \
             FROM ({})",
            latest_sql(TRIAGE_TABLE, "true")
        ),
        TriageTable::Current => format!(
            "SELECT l.alert_id, l.state, l.note, l.at, r.reason, nullif(g.assignee, '') AS assignee \
             FROM ({}) l \
             LEFT JOIN (SELECT alert_id, reason FROM (SELECT alert_id, reason, row_number() OVER \
                 (PARTITION BY alert_id ORDER BY at DESC) AS n FROM {TRIAGE_TABLE}) WHERE n = 1) r ON l.alert_id = r.alert_id \
             LEFT JOIN (SELECT alert_id, assignee FROM (SELECT alert_id, assignee, row_number() OVER \
                 (PARTITION BY alert_id ORDER BY at DESC) AS n FROM {TRIAGE_TABLE} WHERE assignee IS NOT NULL) \
                 WHERE n = 1) g ON l.alert_id = g.alert_id",
            latest_sql(TRIAGE_TABLE, "true")
        ),
    };
    format!("alerts a LEFT JOIN ({latest}) t ON a.alert_id = t.alert_id")
}

/// Each alert's newest triage row (`alert_id, state, note, at`) of `table` (the triage
/// table's name in the query) among the rows where `filter` holds.
fn latest_sql(table: &str, filter: &str) -> String {
    format!(
        "SELECT alert_id, state, note, at FROM (SELECT alert_id, state, note, at, \
         row_number() OVER (PARTITION BY alert_id ORDER BY at DESC) AS n FROM {table} WHERE {filter}) WHERE n = 1"
    )
}

/// The triage state of each of `ids` that was ever triaged (an alert not in the map is
/// open), read from the lake's `alert_triage` table.
pub async fn states(lake: &Lake, ids: &[&str]) -> Result<std::collections::HashMap<String, TriageState>> {
    use arrow::array::AsArray;

    let mut out = std::collections::HashMap::new();
    let Some(table) = lake.try_table(TRIAGE_TABLE).await? else { return Ok(out) };
    if ids.is_empty() {
        return Ok(out);
    }
    let list = ids.iter().map(|i| format!("'{}'", i.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    let sql = latest_sql("t", &format!("alert_id IN ({list})"));
    for b in lake::read_table(&table, &sql).await? {
        let id = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let state = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        for (id, state) in id.as_string::<i32>().iter().zip(state.as_string::<i32>().iter()) {
            if let (Some(id), Some(Ok(state))) = (id, state.map(str::parse::<TriageState>)) {
                out.insert(id.to_string(), state);
            }
        }
    }
    Ok(out)
}

/// Closes each alert of a resolution's rule whose event ids include its `eventid`, once,
/// and only an alert nobody has triaged: an analyst who reopened or acknowledged it
/// decides, not the rule. The note says why. Returns how many it closed (one commit).
pub async fn close_resolved(lake: &Lake, resolved: &[crate::run::Resolution]) -> Result<usize> {
    use std::collections::{HashMap, HashSet};

    use arrow::array::{Array, AsArray};

    let Some(alerts) = lake.try_table(lake::ALERTS_TABLE).await? else { return Ok(0) };
    let wanted: HashMap<(&str, &str), &str> =
        resolved.iter().map(|r| ((r.rule_id.as_str(), r.eventid.as_str()), r.note.as_str())).collect();
    let rules: HashSet<&str> = resolved.iter().map(|r| r.rule_id.as_str()).collect();
    let list = rules.iter().map(|r| format!("'{}'", r.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    let mut to_close: Vec<(String, &str)> = vec![];
    let sql = format!("SELECT alert_id, rule_id, event_ids FROM t WHERE rule_id IN ({list})");
    for b in lake::read_table(&alerts, &sql).await? {
        let ids = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let rule_ids = arrow::compute::cast(b.column(1), &DataType::Utf8)?;
        let (ids, rule_ids) = (ids.as_string::<i32>(), rule_ids.as_string::<i32>());
        let Some(events) = b.column(2).as_list_opt::<i32>() else { continue };
        for i in 0..b.num_rows() {
            if events.is_null(i) {
                continue;
            }
            let listed = arrow::compute::cast(&events.value(i), &DataType::Utf8)?;
            let note =
                listed.as_string::<i32>().iter().flatten().find_map(|e| wanted.get(&(rule_ids.value(i), e)).copied());
            if let Some(note) = note {
                to_close.push((ids.value(i).to_string(), note));
            }
        }
    }
    if to_close.is_empty() {
        return Ok(0);
    }
    let triaged = triaged_alerts(lake).await?;
    to_close.retain(|(id, _)| !triaged.contains(id));
    if to_close.is_empty() {
        return Ok(0);
    }
    let at = lake::time::now_micros();
    let changes: Vec<TriageChange> = to_close
        .iter()
        .map(|(id, note)| TriageChange {
            alert_id: id.clone(),
            state: TriageState::Closed,
            note: Some(format!("resolved automatically: {note}")),
            at,
            reason: None,
            assignee: None,
            actor: None,
            via: Some("detect".into()),
        })
        .collect();
    record_all(lake, &changes).await?;
    Ok(changes.len())
}

/// Alerts with any triage row (a person's, or an earlier automatic close).
async fn triaged_alerts(lake: &Lake) -> Result<std::collections::HashSet<String>> {
    use arrow::array::AsArray;

    let Some(t) = lake.try_table(TRIAGE_TABLE).await? else { return Ok(Default::default()) };
    let sql = "SELECT DISTINCT alert_id FROM t";
    let mut out = std::collections::HashSet::new();
    for b in lake::read_table(&t, sql).await? {
        let c = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        out.extend(c.as_string::<i32>().iter().flatten().map(String::from));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_without_a_note_is_refused_and_states_parse_from_their_names() {
        assert!(TriageChange::now("a1", TriageState::Closed, Some("  ")).is_err());
        let c = TriageChange::now("a1", TriageState::Closed, Some(" false positive ")).unwrap();
        assert_eq!(c.note.as_deref(), Some("false positive"));
        assert_eq!("acknowledged".parse::<TriageState>(), Ok(TriageState::Acknowledged));
        assert!("done".parse::<TriageState>().unwrap_err().contains("open, acknowledged or closed"));
    }
}
