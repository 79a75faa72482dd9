//! The outbox: the lake's `alert_deliveries` table, one row per state change of an alert at
//! a destination (pending, delivered, failed, resolved). A pair's state is its newest row.
//!
//! Pending rows are written before the run's alerts are recorded, delivered or failed rows
//! after each attempt: a crash in between leaves the pair pending, retried by the next
//! run (at least once, never lost); a destination that keeps failing is retried every run
//! for a week and keeps its error in the table.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use detections::alert::Alert;
pub use lake::DELIVERIES_TABLE;
use lake::Lake;

use crate::error::Result;

/// Pending or failed pairs older than this are no longer retried.
pub const RETRY_FOR_MICROS: i64 = 7 * 86_400_000_000;
/// Nor after this many attempts.
pub const MAX_ATTEMPTS: i64 = 50;

/// A pair's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Delivered,
    Failed,
    /// Delivered, then resolved at the destination because the alert was closed.
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Resolved => "resolved",
        }
    }
}

/// One row to write.
#[derive(Debug, Clone)]
pub struct Row {
    pub alert: Alert,
    pub destination: String,
    pub status: Status,
    pub attempts: i64,
    pub error: Option<String>,
}

pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("destination", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("attempts", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("at", lake::schema::timestamp_type(), false),
        // The alert as delivered (JSON), so a retry needs nothing else.
        Field::new("alert", DataType::Utf8, false),
    ]))
});

/// Appends `rows` in one commit (nothing for none).
pub async fn write(lake: &Lake, rows: &[Row], at: i64) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let s = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let batch = RecordBatch::try_new(
        SCHEMA.clone(),
        vec![
            s(&|r| Some(r.alert.alert_id.clone())),
            s(&|r| Some(r.destination.clone())),
            s(&|r| Some(r.status.as_str().to_string())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.attempts).collect::<Vec<_>>())),
            s(&|r| r.error.clone()),
            Arc::new(TimestampMicrosecondArray::from(vec![at; n]).with_timezone("UTC")),
            s(&|r| Some(serde_json::to_string(&r.alert).unwrap_or_default())),
        ],
    )?;
    lake.append(DELIVERIES_TABLE, vec![batch]).await?;
    Ok(())
}

/// Each (alert, destination) pair's newest row whose status is one of `statuses`, written
/// within the retry window and under the attempt limit: (row, its alert).
pub async fn latest(lake: &Lake, statuses: &[Status], now: i64) -> Result<Vec<Row>> {
    let Some(table) = lake.try_table(DELIVERIES_TABLE).await? else { return Ok(vec![]) };
    let wanted: Vec<String> = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let sql = format!(
        "SELECT alert_id, destination, status, attempts, error, alert FROM (SELECT *, row_number() OVER \
         (PARTITION BY alert_id, destination ORDER BY at DESC, attempts DESC) AS n FROM t) \
         WHERE n = 1 AND status IN ({}) AND attempts < {MAX_ATTEMPTS} AND at >= TIMESTAMP '{}'",
        wanted.join(", "),
        lake::time::format_canonical(now - RETRY_FOR_MICROS)
    );
    let mut out = Vec::new();
    for b in lake::read_table(&table, &sql).await? {
        let text = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (dest, status, error, alert) = (text(1)?, text(2)?, text(4)?, text(5)?);
        let (dest, status, error, alert) =
            (dest.as_string::<i32>(), status.as_string::<i32>(), error.as_string::<i32>(), alert.as_string::<i32>());
        let attempts = arrow::compute::cast(b.column(3), &DataType::Int64)?;
        let attempts = attempts.as_primitive::<arrow::datatypes::Int64Type>();
        for r in 0..b.num_rows() {
            let Ok(a) = Alert::from_json(alert.value(r)) else { continue };
            let status = match status.value(r) {
                "pending" => Status::Pending,
                "delivered" => Status::Delivered,
                "failed" => Status::Failed,
                _ => Status::Resolved,
            };
            out.push(Row {
                alert: a,
                destination: dest.value(r).to_string(),
                status,
                attempts: attempts.value(r),
                error: error.is_valid(r).then(|| error.value(r).to_string()),
            });
        }
    }
    Ok(out)
}

/// The alerts among `ids` whose newest triage state is closed.
pub async fn closed(lake: &Lake, ids: &[&str]) -> Result<std::collections::HashSet<String>> {
    let states = detections::triage::states(lake, ids).await?;
    Ok(states.into_iter().filter(|(_, s)| *s == detections::triage::TriageState::Closed).map(|(id, _)| id).collect())
}
