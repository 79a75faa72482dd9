//! Alert triage: what an analyst decided about an alert (open, acknowledged, closed with a
//! note), kept in the lake's `alert_triage` table so it survives restarts and is there for
//! SQL (`SELECT * FROM alert_triage`). The table is a log: one row per change, an alert's
//! state is its newest row; an alert never triaged is open.

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

/// One change of an alert's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageChange {
    pub alert_id: String,
    pub state: TriageState,
    pub note: Option<String>,
    /// Microseconds since the epoch (UTC).
    pub at: i64,
}

pub static TRIAGE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("at", lake::schema::timestamp_type(), false),
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
        Ok(TriageChange { alert_id: alert_id.to_string(), state, note, at })
    }

    fn to_batch(&self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            TRIAGE_SCHEMA.clone(),
            vec![
                Arc::new(StringArray::from(vec![self.alert_id.as_str()])),
                Arc::new(StringArray::from(vec![self.state.as_str()])),
                Arc::new(StringArray::from(vec![self.note.as_deref()])),
                Arc::new(TimestampMicrosecondArray::from(vec![self.at]).with_timezone("UTC")),
            ],
        )?)
    }
}

/// Appends `change` to the lake's `alert_triage` table (created on first use): one commit.
pub async fn record(lake: &Lake, change: &TriageChange) -> Result<u64> {
    Ok(lake.append(TRIAGE_TABLE, vec![change.to_batch()?]).await?)
}

/// Appends every change in one commit (a bulk acknowledge or close).
pub async fn record_all(lake: &Lake, changes: &[TriageChange]) -> Result<u64> {
    let batches = changes.iter().map(TriageChange::to_batch).collect::<Result<Vec<_>>>()?;
    let batch = arrow::compute::concat_batches(&TRIAGE_SCHEMA, &batches)?;
    Ok(lake.append(TRIAGE_TABLE, vec![batch]).await?)
}

/// SQL for the FROM clause of alerts with their triage: `alerts a` joined with `t`, each
/// alert's newest state (`t.state`, NULL for an alert never triaged: open), and its note and
/// time. `has_triage_table`: whether the lake has the `alert_triage` table yet. The console
/// and `trailhouse alerts` read alerts through it.
pub fn alerts_with_state(has_triage_table: bool) -> String {
    let latest = if has_triage_table {
        latest_sql(TRIAGE_TABLE, "true")
    } else {
        "SELECT CAST(NULL AS VARCHAR) AS alert_id, CAST(NULL AS VARCHAR) AS state, CAST(NULL AS VARCHAR) AS note, \
         CAST(NULL AS TIMESTAMP) AS at WHERE false"
            .to_string()
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
    let n = to_close.len();
    let batch = RecordBatch::try_new(
        TRIAGE_SCHEMA.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(to_close.iter().map(|(id, _)| id.as_str()))),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(TriageState::Closed.as_str(), n))),
            Arc::new(StringArray::from_iter_values(
                to_close.iter().map(|(_, note)| format!("resolved automatically: {note}")),
            )),
            Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
        ],
    )?;
    lake.append(TRIAGE_TABLE, vec![batch]).await?;
    Ok(n)
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
