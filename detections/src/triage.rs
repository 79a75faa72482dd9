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
