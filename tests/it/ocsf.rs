//! OCSF: the `ocsf_api_activity` view over the real recorded CloudTrail files, checked
//! against the events themselves and the placements of OCSF's published CloudTrail examples
//! (github.com/ocsf/examples, mappings/markdown/AWS/v1.1.0/CloudTrail/, commit 45c82e3:
//! DescribeDirectConnectGateways is API Activity 6003 Read, CreateUser Account Change 3001
//! Create, ConsoleLogin Authentication 3002 Logon; tests/data/ocsf/MAPPING.md), and
//! `export --format ocsf`: Security Lake's layout, every record valid for its class.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::json::LineDelimitedWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use test_support::{datasets, run_ok, source_events, trailhouse};

struct Lake {
    _dir: tempfile::TempDir,
    lake: PathBuf,
    /// Every recorded event by its eventID.
    events: HashMap<String, Value>,
}

/// The recorded datasets (tests/data), ingested once for this file's tests.
fn lake() -> &'static Lake {
    static L: OnceLock<Lake> = OnceLock::new();
    L.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        run_ok(trailhouse().args(["ingest", "--source"]).arg(datasets()).arg("--lake").arg(&lake));
        let events: HashMap<String, Value> = source_events(&datasets())
            .into_values()
            .flatten()
            .map(|e| (e["eventID"].as_str().unwrap().to_string(), e))
            .collect();
        Lake { _dir: dir, lake, events }
    })
}

fn sql(query: &str) -> Vec<Value> {
    let out = run_ok(trailhouse().args(["sql", "--format", "ndjson", "--lake"]).arg(&lake().lake).arg(query));
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// Epoch milliseconds of a CloudTrail `eventTime` (`2026-11-02T10:00:00Z`).
fn millis(t: &str) -> i64 {
    let rows = sql(&format!("SELECT CAST(date_part('epoch', TIMESTAMP '{t}') * 1000 AS BIGINT) AS ms"));
    rows[0]["ms"].as_i64().unwrap()
}

#[test]
fn the_ocsf_view_places_recorded_events_as_ocsfs_published_cloudtrail_examples_do() {
    let l = lake();
    let rows = sql("SELECT metadata.uid AS id, class_uid, activity_id, type_uid, api.operation AS op,
                api.service.name AS svc, api.response.error AS err, actor.user.uid AS user_uid,
                actor.user.uid_alt AS uid_alt, actor.user.credential_uid AS cred,
                actor.session.is_mfa AS mfa, actor.session.issuer AS issuer, src_endpoint.ip AS ip,
                src_endpoint.domain AS domain, cloud.account.uid AS account, cloud.region AS region,
                \"time\" AS t, http_request.user_agent AS ua, get_field(\"user\", 'name') AS target, status
         FROM ocsf_api_activity");
    // Every event is there once: none dropped, whatever its class.
    assert_eq!(rows.len(), l.events.len());
    let mut placed: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut checked_time = 0;
    for r in &rows {
        let e = &l.events[r["id"].as_str().unwrap()];
        let (class, activity) = (r["class_uid"].as_i64().unwrap(), r["activity_id"].as_i64().unwrap());
        assert!([6003, 3002, 3001].contains(&class), "{r}");
        assert_eq!(r["type_uid"].as_i64(), Some(class * 100 + activity), "{r}");
        let name = e["eventName"].as_str().unwrap();
        assert_eq!(r["op"].as_str(), Some(name));
        assert_eq!(r["svc"], e["eventSource"]);
        assert_eq!(r.get("err").unwrap_or(&Value::Null), e.get("errorCode").unwrap_or(&Value::Null), "{r}");
        let who = &e["userIdentity"];
        assert_eq!(r.get("user_uid").unwrap_or(&Value::Null), who.get("arn").unwrap_or(&Value::Null), "{r}");
        assert_eq!(r.get("uid_alt").unwrap_or(&Value::Null), who.get("principalId").unwrap_or(&Value::Null));
        assert_eq!(r.get("cred").unwrap_or(&Value::Null), who.get("accessKeyId").unwrap_or(&Value::Null));
        if let Some(issuer) = who.pointer("/sessionContext/sessionIssuer/arn") {
            assert_eq!(&r["issuer"], issuer);
        }
        if let Some(mfa) = who.pointer("/sessionContext/attributes/mfaAuthenticated") {
            assert_eq!(r["mfa"].as_bool(), Some(mfa.as_str() == Some("true")), "{r}");
        }
        let source = e["sourceIPAddress"].as_str().unwrap();
        if is_ip(source) {
            assert_eq!(r["ip"].as_str(), Some(source));
        } else {
            assert_eq!(r["domain"].as_str(), Some(source), "{r}");
        }
        assert_eq!(r["account"], e["recipientAccountId"]);
        assert_eq!(r["region"], e["awsRegion"]);
        assert_eq!(r.get("ua").unwrap_or(&Value::Null), e.get("userAgent").unwrap_or(&Value::Null));
        // Epoch milliseconds (a few events suffice: each costs a query).
        if checked_time < 3 {
            assert_eq!(r["t"].as_i64(), Some(millis(e["eventTime"].as_str().unwrap())));
            checked_time += 1;
        }
        match name {
            "ConsoleLogin" => {
                let result = e.pointer("/responseElements/ConsoleLogin").and_then(Value::as_str);
                assert_eq!(r["status"].as_str(), result, "{r}");
            }
            "CreateUser" if e["eventSource"] == "iam.amazonaws.com" => {
                assert_eq!(r["target"], e["requestParameters"]["userName"], "the created user: {r}");
            }
            _ => {}
        }
        placed.insert(name, (class, activity));
    }
    // The published examples' placements, on the recorded events of the same kind.
    assert_eq!(placed.get("ConsoleLogin"), Some(&(3002, 1)));
    assert_eq!(placed.get("CreateUser"), Some(&(3001, 1)));
    assert_eq!(placed.get("AssumeRole"), Some(&(3002, 1)));
    assert_eq!(placed.get("CreateAccessKey"), Some(&(3001, 1)));
    assert_eq!(placed.get("AttachUserPolicy"), Some(&(3001, 7)));
    let describes: Vec<_> = placed.iter().filter(|(n, _)| n.starts_with("Describe")).collect();
    assert!(!describes.is_empty());
    for (name, p) in describes {
        assert_eq!(*p, (6003, 2), "{name}");
    }
    assert_eq!(placed.get("GetCallerIdentity"), Some(&(6003, 2)));
}

/// Every record of every Parquet file under `dir`, as JSON objects without their nulls.
fn records(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for key in test_support::keys_under(dir).into_iter().filter(|k| k.ends_with(".parquet")) {
        let file = std::fs::File::open(dir.join(&key)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        let mut w = LineDelimitedWriter::new(Vec::new());
        for batch in reader {
            w.write(&batch.unwrap()).unwrap();
        }
        w.finish().unwrap();
        for line in String::from_utf8(w.into_inner()).unwrap().lines() {
            out.push((key.clone(), serde_json::from_str(line).unwrap()));
        }
    }
    out
}

#[test]
fn export_format_ocsf_writes_security_lakes_layout_and_every_record_validates() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("security-lake");
    let out =
        run_ok(trailhouse().args(["export", "--format", "ocsf", "--json", "--lake"]).arg(&l.lake).arg("--to").arg(&to));
    let summary: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["rows"].as_u64(), Some(l.events.len() as u64), "{summary}");
    let counted: u64 = summary["ocsf"].as_array().unwrap().iter().map(|c| c["records"].as_u64().unwrap()).sum();
    assert_eq!(counted, l.events.len() as u64, "every event counted in a class: {summary}");

    // ext/<source>/region=<r>/accountId=<12 digits>/eventDay=<yyyymmdd>/<file>.parquet
    let root = to.join("ext/trailhouse_cloudtrail");
    let records = records(&root);
    assert_eq!(records.len(), l.events.len());
    for (key, _) in &records {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 4, "{key}");
        let region = parts[0].strip_prefix("region=").unwrap_or_else(|| panic!("{key}"));
        assert!(!region.is_empty() && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        let account = parts[1].strip_prefix("accountId=").unwrap_or_else(|| panic!("{key}"));
        assert!(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()), "{key}");
        let day = parts[2].strip_prefix("eventDay=").unwrap_or_else(|| panic!("{key}"));
        assert!(day.len() == 8 && day.starts_with("20"), "{key}");
    }

    let classes: Value = serde_json::from_str(query::ocsf::CLASSES_JSON).unwrap();
    let mut invalid = Vec::new();
    let mut by_class: HashMap<u64, u64> = HashMap::new();
    for (key, r) in &records {
        *by_class.entry(r["class_uid"].as_u64().unwrap()).or_default() += 1;
        let v = query::ocsf::violations(r, &classes);
        if !v.is_empty() {
            invalid.push(format!("{key} {}: {v:?}", r["metadata"]["uid"]));
        }
    }
    assert!(
        invalid.is_empty(),
        "{} of {} records invalid, e.g. {:?}",
        invalid.len(),
        records.len(),
        &invalid[..3.min(invalid.len())]
    );
    // All three classes occur in the recorded data.
    for class in [6003, 3002, 3001] {
        assert!(by_class.get(&class).copied().unwrap_or(0) > 0, "{by_class:?}");
    }
}

#[test]
fn the_validator_rejects_a_record_the_view_could_not_have_made() {
    // The check the export test relies on, on a record of the view with its actor removed.
    let rows = sql("SELECT * FROM ocsf_api_activity WHERE api.operation = 'ConsoleLogin' LIMIT 1");
    let classes: Value = serde_json::from_str(query::ocsf::CLASSES_JSON).unwrap();
    let mut r = rows[0].clone();
    r.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    r["class_uid"] = Value::from(6003);
    r.as_object_mut().unwrap().remove("actor");
    let v = query::ocsf::violations(&r, &classes);
    assert!(v.contains(&"actor is required".to_string()), "{v:?}");
}
