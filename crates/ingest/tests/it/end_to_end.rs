//! The lake end to end on local folders: real datasets, lossless rows, idempotent re-runs.

use std::collections::HashMap;

use arrow::array::{AsArray, Int64Array};
use test_support::*;

use crate::quiet;
use ingest::backfill::backfill;
use ingest::rebuild::rebuild_events;
use ingest::source::Source;
use lake::{CLOUDTRAIL_TABLE, LEDGER_TABLE, Lake, LakeOptions, read_table};

async fn count(lake: &Lake, table: &str) -> i64 {
    let t = lake.table(table).await.unwrap();
    let b = read_table(&t, "SELECT count(*) FROM t").await.unwrap();
    b[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

/// Rebuilds every row of the lake and compares, per source file, with the originals.
async fn assert_lake_equals_sources(lake: &Lake, sources: &HashMap<String, Vec<serde_json::Value>>) {
    let t = lake.table(CLOUDTRAIL_TABLE).await.unwrap();
    let batches = read_table(&t, "SELECT * FROM t").await.unwrap();
    let mut rebuilt: HashMap<String, Vec<String>> = HashMap::new();
    for b in &batches {
        let events = rebuild_events(b).unwrap();
        let src = arrow::compute::cast(b.column_by_name("source_object").unwrap(), &arrow::datatypes::DataType::Utf8)
            .unwrap();
        let src = src.as_string::<i32>();
        for (i, e) in events.into_iter().enumerate() {
            rebuilt.entry(src.value(i).to_string()).or_default().push(canonical(&e));
        }
    }
    assert_eq!(rebuilt.len(), sources.len(), "files in the lake vs on disk");
    for (path, events) in sources {
        let mut want: Vec<String> = events.iter().map(canonical).collect();
        let mut got = rebuilt.remove(path).unwrap_or_else(|| panic!("no rows from {path}"));
        want.sort();
        got.sort();
        assert_eq!(got.len(), want.len(), "{path}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(g).unwrap(),
                serde_json::from_str::<serde_json::Value>(w).unwrap(),
                "{path}"
            );
        }
    }
}

/// JSON text with object keys sorted (serde_json's default map), for sorting events.
fn canonical(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_datasets_ingest_completely_and_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open_or_create(lake_dir.to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source = Source::parse(datasets().to_str().unwrap(), &Default::default()).await.unwrap();
    let s = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!(s.events, DATASET_EVENTS);
    assert_eq!(s.files, DATASET_FILES);
    assert_eq!(s.files_quarantined, 0);
    assert_eq!(s.events_without_time, 0);
    assert_eq!(count(&lake, CLOUDTRAIL_TABLE).await, DATASET_EVENTS as i64);
    assert_eq!(count(&lake, LEDGER_TABLE).await, DATASET_FILES as i64);
    assert_lake_equals_sources(&lake, &source_events(&datasets())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_corpus_round_trips_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let g = sample_logs::generate(&sample_logs::GenerateOptions {
        out: logs.clone(),
        events: 20_000,
        accounts: 3,
        days: 2,
        seed: 42,
        ..Default::default()
    })
    .unwrap();
    let lake = Lake::open_or_create(dir.path().join("lake").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source = Source::parse(logs.to_str().unwrap(), &Default::default()).await.unwrap();
    let s = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!(s.events, g.events);
    assert_eq!(s.files, g.files);
    // planted.tsv is not a log file
    assert_eq!(s.files_not_logs, 1);
    assert_lake_equals_sources(&lake, &source_events(&logs)).await;

    // Every identity type the generator promises is in the lake.
    let t = lake.table(CLOUDTRAIL_TABLE).await.unwrap();
    let b = read_table(&t, "SELECT DISTINCT t.useridentity.type FROM t WHERE t.useridentity.type IS NOT NULL")
        .await
        .unwrap();
    let mut types: Vec<String> = b
        .iter()
        .flat_map(|b| {
            let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
            let c = c.as_string::<i32>();
            (0..b.num_rows()).map(|i| c.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["AWSAccount", "AWSService", "AssumedRole", "FederatedUser", "IAMUser", "IdentityCenterUser", "Root"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reingesting_the_same_source_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open_or_create(dir.path().join("lake").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source = Source::parse(datasets().join("cloud-snitch").to_str().unwrap(), &Default::default()).await.unwrap();
    let first = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!(first.events, 21);
    let second = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!((second.files, second.events, second.files_already_ingested), (0, 0, 2));
    assert_eq!(second.lake_version, first.lake_version, "an empty run must not commit");
    assert_eq!(count(&lake, CLOUDTRAIL_TABLE).await, 21);

    // The same files copied elsewhere are recognised by their CloudTrail key.
    let copy = dir.path().join("copy");
    copy_dir(&datasets().join("cloud-snitch"), &copy);
    let third = backfill(&lake, &Source::parse(copy.to_str().unwrap(), &Default::default()).await.unwrap(), &quiet())
        .await
        .unwrap();
    assert_eq!(third.events, 0);
    assert_eq!(count(&lake, CLOUDTRAIL_TABLE).await, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_quarantined_and_the_rest_is_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&datasets().join("cloud-snitch"), &src);
    let good = std::fs::read(datasets().join("invictus-aws-stratus/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1240Z_C1qUFaqvZS64BcIN.json.gz")).unwrap();
    let bad_dir = src.join("AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10");
    std::fs::create_dir_all(&bad_dir).unwrap();
    std::fs::write(bad_dir.join("truncated.json.gz"), &good[..good.len() / 2]).unwrap();
    std::fs::write(bad_dir.join("notjson.json.gz"), b"<html>oops</html>").unwrap();
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open_or_create(lake_dir.to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source = Source::parse(src.to_str().unwrap(), &Default::default()).await.unwrap();
    let s = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!((s.files, s.events, s.files_quarantined), (2, 21, 2));
    let q = lake_dir.join("quarantine/AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10");
    assert_eq!(std::fs::read(q.join("truncated.json.gz")).unwrap(), &good[..good.len() / 2]);
    let err: serde_json::Value =
        serde_json::from_slice(&std::fs::read(q.join("notjson.json.gz.error.json")).unwrap()).unwrap();
    assert!(err["error"].as_str().unwrap().contains("not valid JSON"), "{err}");
    // Quarantined files are in the ledger: a re-run does not retry them.
    let again = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!((again.files, again.files_quarantined, again.files_already_ingested), (0, 0, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_day_filter_reads_only_that_days_files() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    sample_logs::generate(&sample_logs::GenerateOptions {
        out: logs.clone(),
        events: 3_000,
        accounts: 1,
        days: 3,
        seed: 3,
        ..Default::default()
    })
    .unwrap();
    let lake = Lake::open_or_create(dir.path().join("lake").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    backfill(&lake, &Source::parse(logs.to_str().unwrap(), &Default::default()).await.unwrap(), &quiet())
        .await
        .unwrap();
    let t = lake.table(CLOUDTRAIL_TABLE).await.unwrap();
    let all: usize = t.get_file_uris().unwrap().count();
    let day: Vec<String> = t.get_file_uris().unwrap().filter(|u| u.contains("eventdate=2026-11-03")).collect();
    assert!(all >= 3 && !day.is_empty() && day.len() < all, "{all} files, {} for the day", day.len());
    let plan =
        read_table(&t, "EXPLAIN ANALYZE SELECT count(*) FROM t WHERE eventdate = DATE '2026-11-03'").await.unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    let b = read_table(&t, "SELECT count(*) FROM t WHERE eventdate = DATE '2026-11-03'").await.unwrap();
    let n = b[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
    assert!(n > 500 && n < 3_000, "{n}");
    // No file of another day is opened by the scan.
    for other in ["eventdate=2026-11-02", "eventdate=2026-11-04"] {
        assert!(!text.contains(other), "scan touched {other}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_with_too_many_dates_open_closes_its_files_and_the_run_is_still_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    sample_logs::generate(&sample_logs::GenerateOptions {
        out: logs.clone(),
        events: 3_000,
        accounts: 1,
        days: 5,
        seed: 5,
        ..Default::default()
    })
    .unwrap();
    let source = Source::parse(logs.to_str().unwrap(), &Default::default()).await.unwrap();
    let run = |name: &'static str, max_open_dates: usize| {
        let (dir, source) = (dir.path().to_path_buf(), source.clone());
        async move {
            let lake = Lake::open_or_create(dir.join(name).to_str().unwrap(), &LakeOptions::default()).await.unwrap();
            let before = lake.table(CLOUDTRAIL_TABLE).await.unwrap().version();
            let opts = ingest::backfill::BackfillOptions { batch_rows: 200, max_open_dates, ..quiet() };
            let s = backfill(&lake, &source, &opts).await.unwrap();
            (lake, before, s)
        }
    };
    let (_, _, open) = run("default", 8).await;
    let (lake, before, closing) = run("closing", 1).await;
    assert_eq!(closing.events, open.events);
    // 5 dates with at most 2 open files per lane: files closed early, each in the commit.
    assert!(
        closing.data_files_written > open.data_files_written,
        "{} files with 1 date open, {} with 8",
        closing.data_files_written,
        open.data_files_written
    );
    let t = lake.table(CLOUDTRAIL_TABLE).await.unwrap();
    assert_eq!(t.get_file_uris().unwrap().count() as u64, closing.data_files_written);
    assert_eq!(t.version(), before.map(|v| v + 1), "one run, one commit");
    assert_lake_equals_sources(&lake, &source_events(&logs)).await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A lake written by an older build (one column fewer) opens, gains the column in one
/// commit, takes new rows, and reads back old rows (the new column null) and new ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_lake_written_with_one_column_fewer_is_upgraded_and_keeps_its_rows() {
    use std::sync::Arc;

    use arrow::array::RecordBatch;
    use arrow::datatypes::Schema;
    use ingest::decode::{DEFAULT_MAX_INFLATED, EventBatchBuilder, FileDecoder};
    use lake::deltalake::{DeltaTableBuilder, protocol::SaveMode};

    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("lake");
    let table_dir = location.join(CLOUDTRAIL_TABLE);
    std::fs::create_dir_all(&table_dir).unwrap();

    // The previous build's rows: real events, without `insightdetails`.
    let files = log_files(&datasets().join("cloud-snitch"));
    let mut builder = EventBatchBuilder::new(1024);
    let mut decoder = FileDecoder::new(DEFAULT_MAX_INFLATED);
    for f in &files {
        decoder.decode(&std::fs::read(f).unwrap(), "old-build", &mut builder).unwrap();
    }
    let batch = builder.finish();
    let full = lake::schema::cloudtrail_schema();
    let keep: Vec<usize> = (0..full.fields().len()).filter(|i| full.field(*i).name() != "insightdetails").collect();
    let old_schema = Arc::new(Schema::new(keep.iter().map(|i| full.field(*i).clone()).collect::<Vec<_>>()));
    let old_batch = RecordBatch::try_new(old_schema, keep.iter().map(|i| batch.column(*i).clone()).collect()).unwrap();
    let old_rows = old_batch.num_rows() as i64;
    assert_eq!(old_rows, 21);
    let url = url::Url::from_directory_path(&table_dir).unwrap();
    DeltaTableBuilder::from_url(url)
        .unwrap()
        .build()
        .unwrap()
        .write(vec![old_batch])
        .with_partition_columns(vec![lake::schema::EVENT_DATE.to_string()])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();

    // Today's build opens it: the column is added, and ingest writes the full schema.
    let l = Lake::open_or_create(location.to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let t = l.table(CLOUDTRAIL_TABLE).await.unwrap();
    assert!(t.snapshot().unwrap().snapshot().arrow_schema().field_with_name("insightdetails").is_ok());
    assert!(l.evolve_cloudtrail().await.unwrap().is_empty(), "a second open changes nothing");
    let source =
        Source::parse(datasets().join("invictus-aws-stratus").to_str().unwrap(), &Default::default()).await.unwrap();
    let s = backfill(&l, &source, &quiet()).await.unwrap();
    assert_eq!(s.events, 2_900);

    let t = l.table(CLOUDTRAIL_TABLE).await.unwrap();
    let b = read_table(
        &t,
        "SELECT count(*), \
                sum(CASE WHEN source_object = 'old-build' THEN 1 ELSE 0 END), \
                sum(CASE WHEN source_object = 'old-build' AND insightdetails IS NULL AND eventid IS NOT NULL THEN 1 ELSE 0 END) \
         FROM t",
    )
    .await
    .unwrap();
    let n = |c: usize| b[0].column(c).as_primitive::<arrow::datatypes::Int64Type>().value(0);
    assert_eq!(n(0), old_rows + 2_900);
    assert_eq!(n(1), old_rows);
    assert_eq!(n(2), old_rows, "old rows read back with their values and a null new column");
}

/// A ledger written before log file integrity validation (no `sha256`, `verified_by`,
/// `verified_at`) gains the columns on open, still skips what it lists, and the files
/// ingested after carry their SHA-256.
#[tokio::test(flavor = "multi_thread")]
async fn a_ledger_without_the_integrity_columns_is_upgraded_and_still_skips_what_it_lists() {
    use std::sync::Arc;

    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::Schema;
    use lake::deltalake::{DeltaTableBuilder, protocol::SaveMode};

    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("lake");
    let ledger_dir = location.join(LEDGER_TABLE);
    std::fs::create_dir_all(&ledger_dir).unwrap();
    let source_dir = datasets().join("invictus-aws-stratus");
    let files = log_files(&source_dir);
    let first = &files[0];
    let name = ingest::layout::canonical_name(first.to_str().unwrap()).to_string();
    let size = std::fs::metadata(first).unwrap().len() as i64;

    let full = lake::ledger::ledger_schema();
    let new = ["sha256", "verified_by", "verified_at"];
    let old_schema = Arc::new(Schema::new(
        full.fields().iter().filter(|f| !new.contains(&f.name().as_str())).cloned().collect::<Vec<_>>(),
    ));
    let text = |v: &str| Arc::new(StringArray::from(vec![v])) as arrow::array::ArrayRef;
    let old_row = RecordBatch::try_new(
        old_schema,
        vec![
            text(&name),
            text("old-build"),
            Arc::new(Int64Array::from(vec![size])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(Int64Array::from(vec![1])),
            text("ingested"),
            Arc::new(StringArray::from(vec![None::<&str>])),
            text("old-run"),
            Arc::new(TimestampMicrosecondArray::from(vec![0]).with_timezone("UTC")),
        ],
    )
    .unwrap();
    DeltaTableBuilder::from_url(url::Url::from_directory_path(&ledger_dir).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .write(vec![old_row])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();

    let l = Lake::open_or_create(location.to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let t = l.table(LEDGER_TABLE).await.unwrap();
    let schema = t.snapshot().unwrap().snapshot().arrow_schema();
    assert!(new.iter().all(|c| schema.field_with_name(c).is_ok()), "{schema:?}");
    let source = Source::parse(source_dir.to_str().unwrap(), &Default::default()).await.unwrap();
    let s = backfill(&l, &source, &quiet()).await.unwrap();
    assert_eq!((s.files, s.files_already_ingested), (files.len() as u64 - 1, 1));
    let t = l.table(LEDGER_TABLE).await.unwrap();
    let b = read_table(
        &t,
        "SELECT sum(CASE WHEN sha256 IS NULL THEN 1 ELSE 0 END), sum(CASE WHEN length(sha256) = 64 THEN 1 ELSE 0 END) FROM t",
    )
    .await
    .unwrap();
    let n = |c: usize| b[0].column(c).as_primitive::<arrow::datatypes::Int64Type>().value(0);
    assert_eq!((n(0), n(1)), (1, files.len() as i64 - 1), "the old row keeps a null hash; new rows have theirs");
}

/// A run interrupted between its two commits (its events committed, its ledger file
/// written but not committed), then a compaction with no retention, then a rerun: the
/// compaction repairs the ledger before its vacuum could delete that file, and the rerun
/// reads nothing again. (The crash is made by deleting the ledger's last commit: its data
/// file stays, uncommitted, as a kill between the two commits leaves it.)
#[tokio::test(flavor = "multi_thread")]
async fn a_run_cut_between_its_commits_is_repaired_before_a_compaction_vacuums() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("lake");
    let l = Lake::open_or_create(location.to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source_dir = datasets().join("invictus-aws-stratus");
    let files = log_files(&source_dir).len() as i64;
    let source = Source::parse(source_dir.to_str().unwrap(), &Default::default()).await.unwrap();
    let first = backfill(&l, &source, &quiet()).await.unwrap();
    assert_eq!(first.files as i64, files);

    let ledger_log = location.join(LEDGER_TABLE).join("_delta_log");
    let last = l.table(LEDGER_TABLE).await.unwrap().version().unwrap();
    std::fs::remove_file(ledger_log.join(format!("{last:020}.json"))).unwrap();
    assert_eq!(count(&l, LEDGER_TABLE).await, 0, "the ledger commit is gone");

    l.compact(64 << 20, 0).await.unwrap();
    assert_eq!(count(&l, LEDGER_TABLE).await, files, "repaired before the vacuum");
    let again = backfill(&l, &source, &quiet()).await.unwrap();
    assert_eq!((again.files, again.files_already_ingested as i64), (0, files));
    assert_eq!(count(&l, LEDGER_TABLE).await, files, "one row per file");
    assert_eq!(count(&l, CLOUDTRAIL_TABLE).await as u64, first.events);
}
