//! The triage log as an audit trail: who changed an alert, why it was closed, who owns it;
//! a lake whose `alert_triage` table predates those columns gains them at its next change.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use detections::triage::{CloseReason, TriageChange, TriageState, TriageTable, alerts_with_state, triage_table};
use lake::{Lake, LakeOptions, TRIAGE_TABLE};
use serde_json::Value;

async fn rows(lake: &Lake, sql: &str) -> Vec<Value> {
    let session = query::LakeSession::open(lake.location(), &LakeOptions::default()).await.unwrap();
    let batches = session.sql(sql).await.unwrap();
    let mut out = Vec::new();
    let mut writer = arrow::json::ArrayWriter::new(&mut out);
    for b in &batches {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    if out.is_empty() { vec![] } else { serde_json::from_slice(&out).unwrap() }
}

#[tokio::test]
async fn an_old_triage_table_gains_the_audit_columns_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake =
        Lake::open_or_create(&dir.path().join("lake").display().to_string(), &LakeOptions::default()).await.unwrap();
    // The table as the console wrote it before the audit trail: four columns.
    let old = Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("at", lake::schema::timestamp_type(), false),
    ]));
    let batch = RecordBatch::try_new(
        old,
        vec![
            Arc::new(StringArray::from(vec!["a1"])),
            Arc::new(StringArray::from(vec!["acknowledged"])),
            Arc::new(StringArray::from(vec![Some("looking")])),
            Arc::new(TimestampMicrosecondArray::from(vec![1_000_000]).with_timezone("UTC")),
        ],
    )
    .unwrap();
    lake.append(TRIAGE_TABLE, vec![batch]).await.unwrap();
    let session = query::LakeSession::open(lake.location(), &LakeOptions::default()).await.unwrap();
    assert_eq!(triage_table(&session).await.unwrap(), TriageTable::WithoutAudit);

    // Assigned, then closed by someone else with a reason: two audit rows.
    let assign = TriageChange::now("a1", TriageState::Acknowledged, Some("mine"))
        .unwrap()
        .by(Some("dana"), "cli")
        .assigned(Some("dana"));
    detections::triage::record(&lake, &assign).await.unwrap();
    let close = TriageChange::now("a1", TriageState::Closed, Some("the red team"))
        .unwrap()
        .with_reason(Some(CloseReason::TruePositive))
        .unwrap()
        .by(Some("erin"), "console");
    detections::triage::record(&lake, &close).await.unwrap();

    let session = query::LakeSession::open(lake.location(), &LakeOptions::default()).await.unwrap();
    assert_eq!(triage_table(&session).await.unwrap(), TriageTable::Current);
    let log = rows(&lake, "SELECT state, note, reason, assignee, actor, via FROM alert_triage ORDER BY at").await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0]["note"], "looking", "the old row is kept");
    assert!(log[0].get("actor").is_none(), "the old row has no actor: {:?}", log[0]);
    assert_eq!(
        (&log[1]["actor"], &log[1]["via"], &log[1]["assignee"]),
        (&"dana".into(), &"cli".into(), &"dana".into())
    );
    assert_eq!((&log[2]["actor"], &log[2]["reason"]), (&"erin".into(), &"true_positive".into()));

    // The alert's state is the newest row's; its assignee the newest one given.
    let from =
        alerts_with_state(TriageTable::Current).replace("alerts a LEFT JOIN", "(SELECT 'a1' AS alert_id) a LEFT JOIN");
    let state = rows(&lake, &format!("SELECT t.state, t.reason, t.assignee FROM {from}")).await;
    assert_eq!(state[0]["state"], "closed");
    assert_eq!(state[0]["reason"], "true_positive");
    assert_eq!(state[0]["assignee"], "dana", "closing without an assignee keeps the one given before");

    // A reason belongs to a close only.
    assert!(TriageChange::now("a1", TriageState::Open, None).unwrap().with_reason(Some(CloseReason::Benign)).is_err());
    assert_eq!("tuning_needed".parse::<CloseReason>(), Ok(CloseReason::TuningNeeded));
    assert!("boring".parse::<CloseReason>().unwrap_err().contains("true_positive"));
}
