//! CloudTrail Lake's SQL over the lake: its event data store id as the table, its camelCase
//! columns, `element_at` on the JSON columns and on arrays, its functions.
//!
//! The acceptance bar of issue 38: the sample queries AWS publishes for CloudTrail Lake
//! (`tests/data/cloudtrail-lake/samples.toml`, verbatim, from AWS's user guide and its sample
//! repositories; README.md there says where each comes from) run unchanged over a lake of
//! real and generated CloudTrail events, and each gives the rows our own SQL for the same
//! question gives (`ours.toml`). The samples published broken fail here too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use ingest::backfill::{BackfillOptions, backfill};
use ingest::source::Source;
use lake::{Lake, LakeOptions};
use query::LakeSession;
use sample_logs::{GenerateOptions, generate};
use serde::Deserialize;

use crate::fixture::{fixture, session};

/// The event data store id every id placeholder of the samples is replaced by (the one in
/// the query line of a real Lake result file).
const STORE: &str = "37382170-182d-42ed-9df9-5aaf0b4b9511";

/// How many samples of each kind `samples.toml` holds: the test fails when one drops out.
const SAMPLES: usize = 99;
/// CloudTrail-event samples Lake accepts as published: each runs here and is compared.
const RUNNABLE: usize = 76;
/// CloudTrail-event samples published broken (or that Lake would likely refuse): each fails.
const BROKEN: usize = 16;
/// Samples for other kinds of event data store (AWS Config items, Athena tables): skipped.
const CONFIG: usize = 5;
const ATHENA: usize = 2;

// ---------------------------------------------------------------------------------------
// The sample queries and ours

#[derive(Deserialize)]
struct Samples {
    query: Vec<Sample>,
}

/// One entry of samples.toml (the fields the test reads).
#[derive(Deserialize)]
struct Sample {
    id: String,
    group: String,
    eds: String,
    #[serde(default)]
    placeholders: Vec<String>,
    lake_valid: Option<bool>,
    sql: String,
}

impl Sample {
    fn is_cloudtrail_events(&self) -> bool {
        self.eds == "cloudtrail" || self.eds == "multi-eds"
    }

    fn runnable(&self) -> bool {
        self.is_cloudtrail_events() && self.lake_valid == Some(true)
    }

    /// The sample with its placeholders filled: those in `fill` as given, every other (the
    /// event data store ids) with [`STORE`]. Only the placeholders the sample lists may be
    /// filled, and a quoted one (a time, `'${date_filter}'`) must be given in `fill`.
    fn filled(&self, fill: &BTreeMap<String, Fill>) -> Result<String, String> {
        if let Some(p) = fill.keys().find(|p| !self.placeholders.contains(p)) {
            return Err(format!("fill names {p}, which is not one of the sample's placeholders"));
        }
        let mut sql = self.sql.clone();
        // Longest first, so that no placeholder is replaced inside a longer one.
        let mut placeholders: Vec<&String> = self.placeholders.iter().collect();
        placeholders.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in placeholders {
            if !sql.contains(p.as_str()) {
                return Err(format!("the placeholder {p} is not in the sample"));
            }
            match fill.get(p) {
                Some(Fill::All(v)) => sql = sql.replace(p.as_str(), v),
                Some(Fill::InOrder(values)) => {
                    for v in values {
                        sql = sql.replacen(p.as_str(), v, 1);
                    }
                    if sql.contains(p.as_str()) {
                        return Err(format!("{p} occurs more often than its {} fills", values.len()));
                    }
                }
                None if p.starts_with('\'') => return Err(format!("{p} is not an id: fill it")),
                None => sql = sql.replace(p.as_str(), STORE),
            }
        }
        Ok(sql)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ours {
    query: Vec<OurQuery>,
    invalid: Vec<Invalid>,
}

/// Our SQL for a runnable sample's question.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OurQuery {
    id: String,
    ours: String,
    rows: Rows,
    #[serde(default)]
    fill: BTreeMap<String, Fill>,
    note: Option<String>,
}

/// A sample published broken, and a part of the message it fails with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalid {
    id: String,
    error: String,
    #[serde(default)]
    fill: BTreeMap<String, Fill>,
    note: Option<String>,
}

/// What the test lake gives for a sample.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Rows {
    Some,
    None,
}

/// A placeholder's replacement: one for every occurrence, or one per occurrence in order.
#[derive(Deserialize)]
#[serde(untagged)]
enum Fill {
    All(String),
    InOrder(Vec<String>),
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloudtrail-lake")
}

fn samples() -> Vec<Sample> {
    let text = std::fs::read_to_string(data_dir().join("samples.toml")).unwrap();
    toml::from_str::<Samples>(&text).unwrap().query
}

fn ours() -> Ours {
    let text = std::fs::read_to_string(data_dir().join("ours.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------------
// The test lake

/// The lake the samples run over: the real files of `tests/data` (invictus-aws-stratus,
/// 2023-07-10, and cloud-snitch) and a generated day on each of [`GENERATED_DAYS`].
struct SampleLake {
    _dir: tempfile::TempDir,
    lake: PathBuf,
}

/// The days of generated logs (1,000 routine events each, three accounts, the planted
/// scenarios): each falls in a time window some samples hard-code, so that they give rows.
const GENERATED_DAYS: [(i64, u32, u32); 8] = [
    (2022, 5, 15),  // cross-account access, logs by region
    (2022, 11, 15), // Config rule evaluations
    (2023, 1, 2),   // the 2023-01-01..07 windows
    (2023, 1, 22),  // the user guide's examples
    (2023, 7, 7),   // security groups opened to the world (planted)
    (2023, 10, 15), // configuration items
    (2024, 6, 24),  // SNS publish
    (2024, 7, 21),  // console logins
];

fn sample_lake() -> &'static SampleLake {
    static L: OnceLock<SampleLake> = OnceLock::new();
    L.get_or_init(|| {
        // Built on its own thread and runtime: tests call this from inside theirs.
        std::thread::spawn(build_sample_lake).join().expect("building the CloudTrail Lake samples' lake")
    })
}

fn build_sample_lake() -> SampleLake {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let lake = dir.path().join("lake");
    for (i, &(y, m, d)) in GENERATED_DAYS.iter().enumerate() {
        let opts = GenerateOptions {
            out: logs.clone(),
            events: 1_000,
            accounts: 3,
            days: 1,
            seed: 100 + i as u64,
            // One set of accounts across the days.
            accounts_seed: Some(7),
            start_day: lake::time::days_from_civil(y, m, d),
            ..Default::default()
        };
        generate(&opts).unwrap();
    }
    let enriched = dir.path().join("enriched");
    write_enriched_events(&enriched);
    let data = test_support::datasets();
    let sources = [logs, data.join("invictus-aws-stratus"), data.join("cloud-snitch"), enriched];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let l = Lake::open_or_create(&lake.display().to_string(), &LakeOptions::default()).await.unwrap();
        for source in sources {
            let src = Source::parse(&source.display().to_string(), &Default::default()).await.unwrap();
            let o = BackfillOptions { lanes: 2, batch_rows: 1000, ..Default::default() };
            let s = backfill(&l, &src, &o).await.unwrap();
            assert!(s.quarantined.is_empty(), "{}", source.display());
        }
    });
    SampleLake { _dir: dir, lake }
}

/// S3 writes and deletes on 2025-06-05 as an event data store with event enrichment records
/// them: an `eventContext` with the bucket's tags (the shape AWS's enrichment guide gives:
/// `tagContext.resourceTags[]` of `{arn, tags}`). Constructed, not recorded: trails never
/// write `eventContext`, and no public dataset holds an enriched event.
fn write_enriched_events(dir: &Path) {
    let event = |i: usize, name: &str, class: &str, bucket: &str| {
        serde_json::json!({
            "eventVersion": "1.11",
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:etl",
                "arn": "arn:aws:sts::111122223333:assumed-role/etl/session", "accountId": "111122223333"},
            "eventTime": format!("2025-06-05T10:{i:02}:00Z"),
            "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.17",
            "requestParameters": {"bucketName": bucket, "key": format!("exports/part-{i}.csv")},
            "eventID": format!("00000000-0000-4000-8000-{i:012}"), "readOnly": false,
            "eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "111122223333",
            "eventCategory": "Data",
            "eventContext": {"tagContext": {"resourceTags": [
                {"arn": format!("arn:aws:s3:::{bucket}"), "tags": {"DataClassification": class, "team": "data"}}
            ]}}
        })
    };
    let records = vec![
        event(1, "PutObject", "sensitive", "customer-data"),
        event(2, "PutObject", "sensitive", "customer-data"),
        event(3, "DeleteObject", "sensitive", "customer-data"),
        event(4, "PutObject", "public", "website"),
    ];
    let file = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2025/06/05/enriched.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, serde_json::json!({ "Records": records }).to_string()).unwrap();
}

async fn sample_session() -> LakeSession {
    LakeSession::open(&sample_lake().lake.display().to_string(), &LakeOptions::default()).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Running and comparing

/// The rows as sorted lines of text, values only (the column names differ), or the error.
async fn try_rows(s: &LakeSession, sql: &str) -> Result<Vec<String>, String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut lines = Vec::new();
    for b in s.sql(sql).await.map_err(|e| e.to_string())? {
        let cols = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for i in 0..b.num_rows() {
            lines.push(cols.iter().map(|c| c.value(i).to_string()).collect::<Vec<_>>().join(" | "));
        }
    }
    lines.sort();
    Ok(lines)
}

async fn rows(s: &LakeSession, sql: &str) -> Vec<String> {
    try_rows(s, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// What differs between two sorted row lists, briefly.
fn diff(lake: &[String], ours: &[String]) -> String {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        let b: BTreeSet<&String> = b.iter().collect();
        a.iter().filter(|l| !b.contains(l)).take(3).cloned().collect()
    };
    format!(
        "the sample gives {} rows, ours {}; only the sample's: {:?}; only ours: {:?}",
        lake.len(),
        ours.len(),
        only(lake, ours),
        only(ours, lake)
    )
}

fn with_note(msg: String, note: &Option<String>) -> String {
    match note {
        Some(n) => format!("{msg}\n    (note: {n})"),
        None => msg,
    }
}

// ---------------------------------------------------------------------------------------
// The tests

#[test]
fn the_sample_set_is_the_one_counted_and_ours_answers_each_runnable_sample_once() {
    let samples = samples();
    assert_eq!(samples.len(), SAMPLES);
    assert!(samples.iter().all(|s| s.group != "user-guide-current"), "that group has no open licence");
    let ids: BTreeSet<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), samples.len(), "sample ids are unique");
    let count = |f: &dyn Fn(&Sample) -> bool| samples.iter().filter(|s| f(s)).count();
    assert_eq!(count(&|s| s.runnable()), RUNNABLE);
    assert_eq!(count(&|s| s.is_cloudtrail_events() && !s.runnable()), BROKEN);
    assert_eq!(count(&|s| s.eds == "config"), CONFIG);
    assert_eq!(count(&|s| s.eds == "athena"), ATHENA);
    assert_eq!(RUNNABLE + BROKEN + CONFIG + ATHENA, SAMPLES);

    let ours = ours();
    let runnable: Vec<&str> = samples.iter().filter(|s| s.runnable()).map(|s| s.id.as_str()).collect();
    let answered: Vec<&str> = ours.query.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(answered, runnable, "ours.toml has one [[query]] per runnable sample, in samples.toml's order");
    let broken: Vec<&str> =
        samples.iter().filter(|s| s.is_cloudtrail_events() && !s.runnable()).map(|s| s.id.as_str()).collect();
    let listed: Vec<&str> = ours.invalid.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(listed, broken, "ours.toml has one [[invalid]] per broken sample, in samples.toml's order");
    // Ours is our own statement of each question, in our SQL: not the sample with its id replaced.
    let words = |sql: &str| sql.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    for q in &ours.query {
        let s = samples.iter().find(|s| s.id == q.id).unwrap();
        let sample = s.filled(&q.fill).unwrap().replace(STORE, "cloudtrail");
        assert_ne!(words(&q.ours), words(&sample), "{}", q.id);
        assert!(!words(&q.ours).contains("element_at"), "{}: ours reads the JSON columns our way", q.id);
        assert!(!q.ours.contains(STORE), "{}: ours reads the cloudtrail table", q.id);
    }
}

/// The `kind` sample (one `is` accepts) with the id `id`, its placeholders filled; or why not.
fn filled(
    samples: &[Sample],
    id: &str,
    fill: &BTreeMap<String, Fill>,
    kind: &str,
    is: impl Fn(&Sample) -> bool,
) -> Result<String, String> {
    let sample =
        samples.iter().find(|x| x.id == id && is(x)).ok_or_else(|| format!("{id}: no {kind} sample has this id"))?;
    sample.filled(fill).map_err(|e| format!("{id}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_runnable_cloudtrail_lake_sample_runs_unchanged_and_agrees_with_our_sql() {
    let samples = samples();
    let ours = ours();
    let s = sample_session().await;
    let mut failures = Vec::new();
    let (mut with_rows, mut without) = (0, 0);
    for q in &ours.query {
        let sql = match filled(&samples, &q.id, &q.fill, "runnable", Sample::runnable) {
            Ok(sql) => sql,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let lake = match try_rows(&s, &sql).await {
            Ok(r) => r,
            Err(e) => {
                failures.push(with_note(format!("{}: the sample fails: {e}", q.id), &q.note));
                continue;
            }
        };
        let mine = match try_rows(&s, &q.ours).await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: ours fails: {e}", q.id));
                continue;
            }
        };
        if lake != mine {
            failures.push(with_note(format!("{}: {}", q.id, diff(&lake, &mine)), &q.note));
            continue;
        }
        let got = if lake.is_empty() { Rows::None } else { Rows::Some };
        if got != q.rows {
            failures.push(format!("{}: expected {:?} rows, got {} rows", q.id, q.rows, lake.len()));
            continue;
        }
        match got {
            Rows::Some => with_rows += 1,
            Rows::None => without += 1,
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNNABLE} runnable samples failed ({with_rows} passed with rows, {without} without):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert_eq!(with_rows + without, RUNNABLE);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_published_broken_fails_here_too() {
    let samples = samples();
    let ours = ours();
    let s = sample_session().await;
    let mut failures = Vec::new();
    for q in &ours.invalid {
        let broken = |x: &Sample| x.is_cloudtrail_events() && !x.runnable();
        let sql = match filled(&samples, &q.id, &q.fill, "broken", broken) {
            Ok(sql) => sql,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        match try_rows(&s, &sql).await {
            Ok(r) => failures.push(with_note(format!("{}: runs ({} rows), expected to fail", q.id, r.len()), &q.note)),
            Err(e) if !e.contains(&q.error) => {
                failures.push(with_note(format!("{}: fails with {e:?}, expected {:?}", q.id, q.error), &q.note))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{} of {BROKEN} broken samples:\n  {}", failures.len(), failures.join("\n  "));
}

#[tokio::test]
async fn a_lake_query_using_a_function_we_lack_fails_naming_it() {
    let s = session(fixture()).await;
    let err = s.sql(&format!("SELECT approx_set(eventName) FROM {STORE}")).await.unwrap_err().to_string();
    assert!(err.contains("approx_set"), "{err}");
}

#[tokio::test]
async fn element_at_reads_a_json_columns_key_as_text_and_an_arrays_element() {
    let s = session(fixture()).await;
    // On the JSON columns: the value at a key, a string unquoted; NULL when missing.
    let lake = format!(
        "SELECT eventid, element_at(requestParameters, 'roleArn'), element_at(requestParameters, 'noSuchKey') \
         FROM {STORE} WHERE eventName = 'AssumeRole'"
    );
    let ours = "SELECT eventid, json_get_str(requestparameters, 'roleArn'), CAST(NULL AS VARCHAR) \
                FROM cloudtrail WHERE eventname = 'AssumeRole'";
    let got = rows(&s, &lake).await;
    assert!(!got.is_empty());
    assert!(got.iter().all(|l| l.contains("arn:aws:iam::")), "{got:?}");
    assert_eq!(got, rows(&s, ours).await);
    // On an array: 1-based, and negative from the end.
    let lake = "SELECT eventid, element_at(resources, 1).arn, element_at(resources, -1).arn FROM cloudtrail \
                WHERE resources IS NOT NULL AND array_length(resources) > 0";
    let ours = "SELECT eventid, resources[1].arn, resources[CAST(array_length(resources) AS BIGINT)].arn FROM cloudtrail \
                WHERE resources IS NOT NULL AND array_length(resources) > 0";
    let got = rows(&s, lake).await;
    assert!(!got.is_empty());
    assert_eq!(got, rows(&s, ours).await);
    // Anything else is refused, naming what it takes.
    let err = s.sql("SELECT element_at(eventtime, 1) FROM cloudtrail").await.unwrap_err().to_string();
    assert!(err.contains("element_at(container, key) takes JSON text"), "{err}");
}

#[tokio::test]
async fn a_lake_querys_eventjson_is_each_event_as_cloudtrail_wrote_it() {
    let f = fixture();
    let s = session(f).await;
    let mut got = Vec::new();
    for b in s.sql(&format!("SELECT eventJson FROM {STORE}")).await.unwrap() {
        let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let col = col.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        got.extend(col.iter().map(|v| serde_json::from_str::<serde_json::Value>(v.unwrap()).unwrap()));
    }
    let key = |e: &serde_json::Value| e["eventID"].as_str().unwrap_or_default().to_string();
    let mut want = f.events.clone();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "eventjson differs from the source events");
    // And a JSON path into it, as Lake's samples read it.
    let sql = format!(
        "SELECT count(*) FROM {STORE} WHERE json_extract_scalar(eventjson, '$.userIdentity.type') = useridentity.type"
    );
    let n = rows(&s, &sql).await;
    assert_eq!(n, [want.iter().filter(|e| e["userIdentity"]["type"].is_string()).count().to_string()]);
}

#[tokio::test]
async fn a_lake_written_before_lakes_columns_existed_answers_lake_queries_without_an_upgrade() {
    // The fixture lake with its table's schema as an older build wrote it: no annotation,
    // eventcontext, identityprovider or ec2issuedinvpc. Reading it must not need a writer
    // to upgrade it first (a read-only role, the console).
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    test_support::copy_tree(&f.lake, dir.path());
    let first = dir.path().join("cloudtrail/_delta_log/00000000000000000000.json");
    let mut lines = Vec::new();
    for line in std::fs::read_to_string(&first).unwrap().lines() {
        let mut action: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(text) = action["metaData"]["schemaString"].as_str() {
            let mut schema: serde_json::Value = serde_json::from_str(text).unwrap();
            let fields = schema["fields"].as_array_mut().unwrap();
            fields.retain(|c| !["annotation", "eventcontext"].contains(&c["name"].as_str().unwrap()));
            let who = fields.iter_mut().find(|c| c["name"] == "useridentity").unwrap();
            let who = who["type"]["fields"].as_array_mut().unwrap();
            who.retain(|c| c["name"] != "identityprovider");
            let session = who.iter_mut().find(|c| c["name"] == "sessioncontext").unwrap();
            session["type"]["fields"].as_array_mut().unwrap().retain(|c| c["name"] != "ec2issuedinvpc");
            action["metaData"]["schemaString"] = serde_json::Value::String(schema.to_string());
        }
        lines.push(action.to_string());
    }
    std::fs::write(&first, lines.join("\n") + "\n").unwrap();

    let old = LakeSession::open(&dir.path().display().to_string(), &LakeOptions::default()).await.unwrap();
    let n = f.events.len().to_string();
    let sql = format!(
        "SELECT count(*), count(eventcontext), count(useridentity.identityprovider), \
         count(json_extract_scalar(eventjson, '$.eventID')) FROM {STORE}"
    );
    assert_eq!(rows(&old, &sql).await, [format!("{n} | 0 | 0 | {n}")]);
    assert_eq!(rows(&old, "SELECT count(*) FROM ocsf_api_activity").await, [n]);
}
