//! `trailhouse rules test`: each rule's embedded events go through the real path (a
//! CloudTrail `{"Records":[...]}` file, the ingest decoder, Arrow, DataFusion) and the
//! rule must match or not as the test says.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use ingest::decode::{EventBatchBuilder, FileDecoder};
use serde_json::{Value, json};

use crate::baseline::Keeper;
use crate::engine::{evaluate, evaluate_filters};
use crate::error::{DetectError, Result};
use crate::rule::{Expect, Rule};

/// The API call every test event is merged over: a test states only what matters.
/// A `null` in a test event removes the field.
pub fn base_event() -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEALICE", "arn": "arn:aws:iam::111122223333:user/alice",
                         "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLEALICE", "userName": "alice"},
        "eventTime": "2026-11-02T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": null,
        "responseElements": null,
        "requestID": "00000000-0000-0000-0000-000000000000",
        "eventID": "",
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    })
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() && k != "requestParameters" && k != "responseElements" {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k).filter(|s| s.is_object() && v.is_object()) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The full events of a test list (base merged, unique event ids).
pub fn expand(events: &[String], prefix: &str) -> std::result::Result<Vec<Value>, String> {
    events
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let over: Value = serde_json::from_str(text).map_err(|e| format!("event {i} is not JSON: {e}"))?;
            let mut e = base_event();
            e["eventID"] = json!(format!("{prefix}-{i}"));
            merge(&mut e, &over);
            Ok(e)
        })
        .collect()
}

/// The `integrity` row every test row is merged over: a valid digest, linked to the one
/// before it, that vouched for one log file.
pub fn base_digest_check() -> Value {
    json!({
        "digest": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/02/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20261102T100000Z.json.gz",
        "account": "111122223333", "region": "us-east-1",
        "digest_start_time": "2026-11-02T09:00:00Z", "digest_end_time": "2026-11-02T10:00:00Z",
        "backfill": false, "status": "valid", "chain": "linked", "gap_hours": 0,
        "logs_listed": 1, "logs_valid": 1, "logs_altered": 0, "logs_missing": 0, "logs_pending": 0,
        "checked_at": "2026-11-02T10:15:00Z", "run_id": "rule-test"
    })
}

/// The ledger row every test row is merged over: a log file ingested.
pub fn base_ledger_row() -> Value {
    json!({
        "name": "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261102T0905Z_a.json.gz",
        "uri": "rule-test://a.json.gz", "size": 1000, "events": 10, "status": "ingested",
        "run_id": "rule-test", "ingested_at": "2026-11-02T09:10:00Z"
    })
}

/// `rows` (JSON objects as text, each merged over `base`) as a table of `schema`.
fn rows_table(
    rows: &[String],
    base: &Value,
    schema: arrow::datatypes::SchemaRef,
) -> std::result::Result<MemTable, String> {
    let mut text = String::new();
    for (i, row) in rows.iter().enumerate() {
        let over: Value = serde_json::from_str(row).map_err(|e| format!("row {i} is not JSON: {e}"))?;
        let mut r = base.clone();
        merge(&mut r, &over);
        text.push_str(&r.to_string());
        text.push('\n');
    }
    let mut reader = arrow::json::ReaderBuilder::new(schema.clone())
        .build(std::io::Cursor::new(text.into_bytes()))
        .map_err(|e| e.to_string())?;
    let mut batches = vec![];
    for b in reader.by_ref() {
        batches.push(b.map_err(|e| e.to_string())?);
    }
    MemTable::try_new(schema, vec![batches]).map_err(|e| e.to_string())
}

/// The outcome of one rule test.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub rule: String,
    pub test: String,
    pub passed: bool,
    pub message: String,
}

/// Runs every test of `rule`.
pub async fn test_rule(rule: &Rule) -> Result<Vec<TestOutcome>> {
    let mut out = Vec::new();
    for t in &rule.tests {
        let outcome = async {
            let events = expand(&t.events, "event").map_err(|m| m.to_string())?;
            let history = expand(&t.history, "history").map_err(|m| m.to_string())?;
            let ctx = query::new_context().map_err(|e| e.to_string())?;
            if !t.ip_info.is_empty() {
                // The test's addresses instead of the process's files.
                let fixture = Arc::new(enrich::Enrichment::fixture(t.ip_info.clone()));
                for udf in query::functions::enrichment_functions(&fixture) {
                    ctx.register_udf(udf);
                }
            }
            let batch_events = decode(&events).map_err(|e| e.to_string())?;
            let mut all = history;
            all.extend(events);
            let batch_all = decode(&all).map_err(|e| e.to_string())?;
            let schema = batch_events.schema();
            ctx.register_table(
                "events",
                Arc::new(MemTable::try_new(schema.clone(), vec![vec![batch_events]]).map_err(|e| e.to_string())?),
            )
            .map_err(|e| e.to_string())?;
            ctx.register_table(
                "history",
                Arc::new(MemTable::try_new(schema, vec![vec![batch_all]]).map_err(|e| e.to_string())?),
            )
            .map_err(|e| e.to_string())?;
            let integrity = rows_table(&t.integrity, &base_digest_check(), lake::integrity::integrity_schema())?;
            ctx.register_table(lake::INTEGRITY_TABLE, Arc::new(integrity)).map_err(|e| e.to_string())?;
            let ledger = rows_table(&t.ledger, &base_ledger_row(), lake::ledger::ledger_schema())?;
            ctx.register_table(lake::LEDGER_TABLE, Arc::new(ledger)).map_err(|e| e.to_string())?;
            Keeper::from_history().register(&ctx, rule, i64::MIN).await.map_err(|e| e.to_string())?;
            // A compiled Sigma detection runs as `detect` runs it: in the shared scan.
            let alerts = if rule.sigma.as_ref().is_some_and(|s| s.filter.is_some()) {
                evaluate_filters(&ctx, &[rule]).await
            } else {
                evaluate(&ctx, rule).await
            }
            .map_err(|e| e.to_string())?;
            let matched = !alerts.is_empty();
            Ok::<_, String>((matched, alerts.len()))
        }
        .await;
        let (passed, message) = match outcome {
            Ok((matched, n)) => match (t.expect, matched) {
                (Expect::Match, true) | (Expect::NoMatch, false) => (true, format!("{n} alert(s)")),
                (Expect::Match, false) => (false, "expected a match, got none".into()),
                (Expect::NoMatch, true) => (false, format!("expected no match, got {n} alert(s)")),
            },
            Err(e) => (false, e),
        };
        out.push(TestOutcome { rule: rule.id.clone(), test: t.name.clone(), passed, message });
    }
    Ok(out)
}

/// Events through the ingest decoder, as the lake would hold them (plus `eventdate`).
fn decode(events: &[Value]) -> Result<arrow::array::RecordBatch> {
    let doc = json!({ "Records": events }).to_string();
    let mut builder = EventBatchBuilder::new(events.len().max(1));
    FileDecoder::default()
        .decode(doc.as_bytes(), "rule-test://events.json", &mut builder)
        .map_err(|e| DetectError::Rule { origin: "test events".into(), message: e.to_string() })?;
    Ok(builder.finish())
}
