//! Aggregates answered from the hourly rollup: the same answer as from the events, the
//! rollup named in `EXPLAIN`, `SET trailhouse.rollups = off` to read the events, and a
//! rollup out of step with the events never read.

use std::path::Path;

use arrow::util::pretty::pretty_format_batches;
use lake::LakeOptions;
use query::LakeSession;

use crate::fixture::fixture;

/// A session that reads the rollup whenever it can (`on`; the default, `auto`, reads it only
/// where it is much smaller than the events, and the fixture's few events are spread thin).
async fn open(lake: &Path) -> LakeSession {
    let s = open_default(lake).await;
    s.sql("SET trailhouse.rollups = on").await.unwrap();
    s
}

async fn open_default(lake: &Path) -> LakeSession {
    LakeSession::open(&lake.display().to_string(), &LakeOptions::default()).await.unwrap()
}

/// The statement's rows as a table of text.
async fn rows(session: &LakeSession, sql: &str) -> String {
    pretty_format_batches(&session.sql(sql).await.unwrap()).unwrap().to_string()
}

/// Whether the statement's plan reads the rollup.
async fn reads_rollup(session: &LakeSession, sql: &str) -> bool {
    let plan = rows(session, &format!("EXPLAIN {sql}")).await;
    plan.contains("TableScan: rollups")
}

/// Aggregates over rollup dimensions, one of each kind the rule rewrites. The fixture's
/// events span 2026-11-02 and 2026-11-03.
const ANSWERABLE: &[&str] = &[
    "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC, 1",
    "SELECT useridentity.arn, count(*) AS n FROM cloudtrail WHERE errorcode IS NOT NULL \
     GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
    "SELECT date_trunc('hour', eventtime) AS h, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1",
    "SELECT date_trunc('day', eventtime) AS d, count(*) AS n, min(eventtime) AS first, max(eventtime) AS last \
     FROM cloudtrail GROUP BY 1 ORDER BY 1",
    "SELECT eventsource, errorcode, count(*) AS n FROM cloudtrail WHERE errorcode IS NOT NULL \
     GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
    "SELECT recipientaccountid, awsregion, count(*) AS n, avg(CASE WHEN readonly THEN 1.0 ELSE 0.0 END) AS ro \
     FROM cloudtrail GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
    "SELECT eventdate, count(DISTINCT eventname) AS names, count(DISTINCT useridentity.arn) AS principals \
     FROM cloudtrail GROUP BY 1 ORDER BY 1",
    "SELECT ip_class(sourceipaddress) AS class, count(*) AS n, count(errorcode) AS errors, \
     sum(CASE WHEN readonly THEN 1 ELSE 0 END) AS reads FROM cloudtrail GROUP BY 1 ORDER BY 1",
    "SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventdate = DATE '2026-11-03' \
     GROUP BY eventname ORDER BY n DESC, 1 LIMIT 10",
    "SELECT useridentity.type, count(*) AS n FROM cloudtrail \
     WHERE eventtime >= TIMESTAMP '2026-11-02 05:00:00' AND eventtime < TIMESTAMP '2026-11-02 09:00:00' \
     GROUP BY 1 ORDER BY 1",
    "SELECT count(*) AS n FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' AND readonly = false",
    "SELECT min(eventname) AS a, max(awsregion) AS b FROM cloudtrail WHERE errorcode = 'AccessDenied'",
    "SELECT c.eventname, count(*) AS n FROM cloudtrail c WHERE c.eventname LIKE 'Get%' GROUP BY 1 ORDER BY 1",
];

#[tokio::test]
async fn aggregates_of_rollup_dimensions_read_the_rollup_and_answer_as_the_events_do() {
    let lake = &fixture().lake;
    for sql in ANSWERABLE {
        let with = open(lake).await;
        assert!(reads_rollup(&with, sql).await, "not answered from the rollup: {sql}");
        let without = open(lake).await;
        without.sql("SET trailhouse.rollups = off").await.unwrap();
        assert!(!reads_rollup(&without, sql).await, "rollups off, yet read: {sql}");
        let (a, b) = (rows(&with, sql).await, rows(&without, sql).await);
        assert_eq!(a, b, "{sql}");
        assert!(a.lines().count() > 4, "a query over nothing proves nothing: {sql}\n{a}");
    }
}

#[tokio::test]
async fn what_the_rollup_does_not_keep_is_read_from_the_events() {
    let session = open(&fixture().lake).await;
    for sql in [
        // Not a dimension.
        "SELECT useragent, count(*) FROM cloudtrail GROUP BY 1",
        // An exact distinct count of addresses (the rollup keeps sketches).
        "SELECT useridentity.arn, count(DISTINCT sourceipaddress) FROM cloudtrail GROUP BY 1",
        // A bound inside an hour.
        "SELECT count(*) FROM cloudtrail WHERE eventtime >= TIMESTAMP '2026-11-02 05:30:00'",
        "SELECT count(*) FROM cloudtrail WHERE eventtime <= TIMESTAMP '2026-11-02 05:00:00'",
        // A filter on the JSON.
        "SELECT eventname, count(*) FROM cloudtrail WHERE requestparameters LIKE '%bucket%' GROUP BY 1",
        // The whole table's count: the files' statistics answer it without reading.
        "SELECT count(*) FROM cloudtrail",
        // Not an aggregate.
        "SELECT eventname FROM cloudtrail WHERE errorcode IS NOT NULL LIMIT 3",
    ] {
        assert!(!reads_rollup(&session, sql).await, "answered from the rollup: {sql}");
    }
}

#[tokio::test]
async fn distinct_addresses_come_from_the_sketches_close_to_the_exact_count() {
    let session = open(&fixture().lake).await;
    let sql = "SELECT useridentity.arn AS arn, approx_distinct(sourceipaddress) AS ips FROM cloudtrail \
               WHERE useridentity.arn IS NOT NULL GROUP BY 1";
    assert!(reads_rollup(&session, sql).await);
    let approx = session.sql(&format!("SELECT arn, ips FROM ({sql}) ORDER BY arn")).await.unwrap();
    let exact = session
        .sql(
            "SELECT useridentity.arn AS arn, count(DISTINCT sourceipaddress) AS ips FROM cloudtrail \
             WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY 1",
        )
        .await
        .unwrap();
    let col = |b: &[arrow::array::RecordBatch]| -> Vec<u64> {
        let all = arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
        let c = arrow::compute::cast(all.column(1), &arrow::datatypes::DataType::UInt64).unwrap();
        let c = c.as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap();
        c.values().to_vec()
    };
    let (a, e) = (col(&approx), col(&exact));
    assert_eq!(a.len(), e.len());
    assert!(a.len() > 10, "{} principals", a.len());
    for (a, e) in a.iter().zip(&e) {
        // Exact up to 64 addresses, within HyperLogLog's error beyond.
        let allowed = if *e <= 64 { 0.0 } else { 0.05 * *e as f64 };
        assert!((*a as f64 - *e as f64).abs() <= allowed, "approx {a} vs exact {e}");
    }
}

#[tokio::test]
async fn the_setting_turns_the_rollup_off_and_on_and_refuses_other_values() {
    let session = open_default(&fixture().lake).await;
    let sql = ANSWERABLE[0];
    // `auto`: the rollup only where it is at least 4 times smaller than the events.
    let sizes = rows(&session, "SELECT count(*) AS rows, sum(events) AS events FROM rollups").await;
    let numbers: Vec<f64> = sizes.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    let reduction = numbers[1] / numbers[0];
    assert!(reduction < 4.0, "the fixture's events are spread thin: {sizes}");
    assert!(!reads_rollup(&session, sql).await, "auto read a rollup {reduction:.1}x smaller than the events");
    session.sql("SET trailhouse.rollups = on").await.unwrap();
    assert!(reads_rollup(&session, sql).await);
    session.sql("SET trailhouse.rollups = off").await.unwrap();
    assert!(!reads_rollup(&session, sql).await);
    session.sql("SET trailhouse.rollups = on").await.unwrap();
    assert!(reads_rollup(&session, sql).await);
    let e = session.sql("SET trailhouse.rollups = sometimes").await.unwrap_err().to_string();
    assert!(e.contains("auto, on or off"), "{e}");
}

/// Generates `events` over the fixture's two days (2 accounts, `seed`) into `logs` and
/// backfills them into `lake`.
async fn ingest_generated(
    lake: &lake::Lake,
    logs: &Path,
    events: u64,
    seed: u64,
    o: ingest::backfill::BackfillOptions,
) {
    let opts = sample_logs::GenerateOptions {
        out: logs.to_path_buf(),
        events,
        accounts: 2,
        days: 2,
        seed,
        ..Default::default()
    };
    sample_logs::generate(&opts).unwrap();
    let src =
        ingest::source::Source::parse(&logs.display().to_string(), &ingest::aws::AwsOptions::default()).await.unwrap();
    ingest::backfill::backfill(lake, &src, &o).await.unwrap();
}

/// 2026-11-03 as days since 1970-01-01.
const DAY_2026_11_03: i32 = 20_760;

#[tokio::test]
async fn a_rollup_out_of_step_is_not_read_until_compaction_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    test_support::copy_tree(&fixture().lake, &lake);
    let sql = ANSWERABLE[0];
    let want = rows(&open(&lake).await, sql).await;
    // One day's rollup files gone (as from a lake written before rollups, or a repair that
    // found its files vacuumed): that day's counts disagree.
    let l = lake::Lake::open_existing(&lake.display().to_string(), &LakeOptions::default()).await.unwrap();
    let mut rollups = l.table(lake::ROLLUPS_TABLE).await.unwrap();
    let day = datafusion::prelude::col("eventdate")
        .eq(datafusion::prelude::lit(datafusion::common::ScalarValue::Date32(Some(DAY_2026_11_03))));
    rollups = rollups.delete().with_predicate(day).await.unwrap().0;
    assert!(rollups.version().unwrap() > 0);
    let session = open(&lake).await;
    assert!(!reads_rollup(&session, sql).await, "a rollup missing a day was read");
    assert_eq!(rows(&session, sql).await, want);
    // Compaction rebuilds the day from its events.
    let summary = l.compact(128 << 20, 0).await.unwrap();
    assert_eq!(summary.rollup.days_rebuilt, 1, "{summary:?}");
    let session = open(&lake).await;
    assert!(reads_rollup(&session, sql).await);
    assert_eq!(rows(&session, sql).await, want);
}

#[tokio::test]
async fn compaction_folds_each_days_rollup_into_one_file_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    test_support::copy_tree(&fixture().lake, &lake);
    let files = |name: &str| {
        let data = |p: &std::path::PathBuf| !p.to_string_lossy().contains("_delta_log");
        walk(&lake.join(name)).into_iter().filter(|p| data(p) && p.extension().is_some_and(|e| e == "parquet")).count()
    };
    // A second ingest of the same two days: each day's rollup is now two or more files
    // (each ingest lane writes its own).
    let l = lake::Lake::open_existing(&lake.display().to_string(), &LakeOptions::default()).await.unwrap();
    ingest_generated(&l, &dir.path().join("more"), 500, 8, ingest::backfill::BackfillOptions::default()).await;
    let written = files("rollups");
    assert!(written >= 4, "{written} rollup files for two days written twice");
    let before: Vec<String> = {
        let s = open(&lake).await;
        let mut v = vec![];
        for sql in ANSWERABLE {
            v.push(rows(&s, sql).await);
        }
        v
    };
    let summary = l.compact(128 << 20, 0).await.unwrap();
    assert_eq!((summary.rollup.days_folded, summary.rollup.days_rebuilt), (2, 0), "{summary:?}");
    assert_eq!(files("rollups"), 2, "one file per day after the fold and its vacuum");
    let s = open(&lake).await;
    for (sql, want) in ANSWERABLE.iter().zip(&before) {
        assert!(reads_rollup(&s, sql).await, "{sql}");
        assert_eq!(&rows(&s, sql).await, want, "{sql}");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn an_ingest_whose_rollup_outgrows_its_bound_writes_it_in_parts_that_still_count_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    // A bound of 100 rows: the run writes its rollup many times before its one commit.
    let small = LakeOptions { rollup_spill_rows: 100, ..LakeOptions::default() };
    let l = lake::Lake::open_or_create(&lake_dir.display().to_string(), &small).await.unwrap();
    let o = ingest::backfill::BackfillOptions { lanes: 2, batch_rows: 200, ..Default::default() };
    ingest_generated(&l, &dir.path().join("logs"), 3_000, 9, o).await;
    let rollups = l.table(lake::ROLLUPS_TABLE).await.unwrap();
    let files = rollups.snapshot().unwrap().log_data().num_files();
    assert!(files > 10, "{files} rollup files for a run bounded to 100 rows a lane");
    let s = open(&lake_dir).await;
    let per_day = "SELECT eventdate, sum(events) AS n FROM rollups GROUP BY 1 ORDER BY 1";
    let counted = "SELECT eventdate, count(eventid) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1";
    assert_eq!(rows(&s, per_day).await, rows(&s, counted).await);
    let sql = ANSWERABLE[1];
    assert!(reads_rollup(&s, sql).await, "the parts together are in step with the events");
    let off = open(&lake_dir).await;
    off.sql("SET trailhouse.rollups = off").await.unwrap();
    assert_eq!(rows(&s, sql).await, rows(&off, sql).await);
}
