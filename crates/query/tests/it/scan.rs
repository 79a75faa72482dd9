//! The lake's native scan: DataFusion's Parquet scan over the Delta snapshot's files reads
//! only the struct leaves a query names, skips files by partition and statistics, and
//! leaf expression pushdown (on) returns what it returns when off, for the join and
//! subquery shapes that break it upstream.

use std::path::Path;
use std::sync::Arc;

use crate::fixture::{fixture, session};
use arrow::array::{AsArray, RecordBatch};
use arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::physical_plan::{ExecutionPlan, collect};
use lake::{CLOUDTRAIL_TABLE, Lake, LakeOptions, LakeTable, ScanFiles};

/// Compressed bytes of the Parquet leaves whose dotted paths are in `leaves`, over every
/// data file of the lake's `cloudtrail` table.
fn leaf_bytes(lake: &Path, leaves: &[&str]) -> u64 {
    let mut total = 0;
    let mut files = Vec::new();
    walk(&lake.join(CLOUDTRAIL_TABLE), &mut files);
    assert!(!files.is_empty(), "no Parquet file under {}", lake.display());
    for f in files {
        let reader = SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
        for rg in reader.metadata().row_groups() {
            for c in rg.columns() {
                if leaves.contains(&c.column_path().string().as_str()) {
                    total += c.compressed_size() as u64;
                }
            }
        }
    }
    total
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.ends_with("_delta_log") {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

/// Runs `sql` and returns its rows and the plan's summed `bytes_scanned` metric.
async fn run_measured(sess: &query::LakeSession, sql: &str) -> (Vec<RecordBatch>, u64) {
    let df = sess.context().sql(sql).await.unwrap();
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.unwrap();
    let rows = collect(plan.clone(), task).await.unwrap();
    (rows, metric(&plan, "bytes_scanned"))
}

fn metric(plan: &Arc<dyn ExecutionPlan>, name: &str) -> u64 {
    let own = plan.metrics().and_then(|m| m.sum_by_name(name)).map_or(0, |v| v.as_usize() as u64);
    own + plan.children().into_iter().map(|c| metric(c, name)).sum::<u64>()
}

#[tokio::test]
async fn a_struct_field_query_reads_only_the_leaves_it_names() {
    let f = fixture();
    let sess = session(f).await;
    let sql = "SELECT useragent, count(*) FROM cloudtrail WHERE useridentity.type = 'AssumedRole' GROUP BY 1";
    let (rows, scanned) = run_measured(&sess, sql).await;
    assert!(!rows.is_empty());
    let leaves = leaf_bytes(&f.lake, &["useragent", "useridentity.type"]);
    let identity = leaf_bytes(
        &f.lake,
        &[
            "useridentity.type",
            "useridentity.principalid",
            "useridentity.arn",
            "useridentity.accountid",
            "useridentity.accesskeyid",
            "useridentity.username",
            "useridentity.invokedby",
            "useridentity.sessioncontext.sessionissuer.arn",
        ],
    );
    assert!(scanned > 0, "the scan reports bytes_scanned");
    assert!(scanned <= 2 * leaves, "scanned {scanned} bytes for {leaves} bytes of the two leaves");
    assert!(scanned < leaves + identity / 2, "scanned {scanned}: most of useridentity was read ({identity})");
}

#[tokio::test]
async fn count_star_of_the_whole_table_comes_from_the_delta_statistics() {
    let f = fixture();
    let sess = session(f).await;
    let (rows, scanned) = run_measured(&sess, "SELECT count(*) FROM cloudtrail").await;
    let text = pretty_format_batches(&rows).unwrap().to_string();
    assert!(text.contains(&f.events.len().to_string()), "{text}");
    assert_eq!(scanned, 0, "no data page read to count rows");
}

#[tokio::test]
async fn the_scanned_files_are_a_plain_list_a_day_filter_narrows() {
    let f = fixture();
    let lake = Lake::open_existing(&f.lake.display().to_string(), &LakeOptions::default()).await.unwrap();
    let table = LakeTable::try_new(&lake.table(CLOUDTRAIL_TABLE).await.unwrap()).unwrap();
    let ctx = query::new_context().unwrap();
    let all = table.files(&ctx.state(), &[]).unwrap();
    assert_eq!(all.files.len(), table.file_count());
    assert_eq!(all.candidates, all.files.len());
    assert_eq!(all.files.iter().filter_map(|f| f.num_records).sum::<u64>(), f.events.len() as u64);
    let day = datafusion::prelude::col("eventdate")
        .eq(datafusion::prelude::lit(datafusion::common::ScalarValue::Date32(Some(20_760))));
    let one_day = table.files(&ctx.state(), &[day]).unwrap();
    assert!(!one_day.files.is_empty() && one_day.files.len() < all.files.len(), "{one_day:?}");
    assert!(one_day.files.iter().all(|f| f.partition_values["eventdate"].as_deref() == Some("2026-11-03")));
    // What a distributed engine ships: it round-trips as JSON.
    let json = serde_json::to_string(&one_day).unwrap();
    assert_eq!(serde_json::from_str::<ScanFiles>(&json).unwrap(), one_day);
}

/// A copy of the fixture lake compacted into 500-row row groups, each with its bloom
/// filters on the needle leaves (what `trailhouse compact` writes).
fn compacted_copy(f: &crate::fixture::Fixture) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.file_name().unwrap());
            if p.is_dir() { copy(&p, &dest) } else { std::fs::copy(&p, &dest).map(|_| ()).unwrap() }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&f.lake, dir.path());
    let opts = LakeOptions { row_group_rows: 500, ..LakeOptions::default() };
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let lake = Lake::open_existing(&dir.path().display().to_string(), &opts).await.unwrap();
                lake.compact(1 << 30, 0).await.unwrap();
            })
        });
    });
    dir
}

#[tokio::test]
async fn a_needle_on_a_struct_leaf_skips_the_row_groups_its_bloom_filters_rule_out() {
    let f = fixture();
    // The access key with the fewest events: present in a few row groups, absent from most.
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for e in &f.events {
        if let Some(k) = e.pointer("/userIdentity/accessKeyId").and_then(|v| v.as_str()).filter(|k| !k.is_empty()) {
            *counts.entry(k).or_default() += 1;
        }
    }
    let (key, want) = counts.iter().min_by_key(|(k, n)| (**n, **k)).map(|(k, n)| (k.to_string(), *n)).unwrap();
    let dir = compacted_copy(f);
    let sess = query::LakeSession::open(&dir.path().display().to_string(), &LakeOptions::default()).await.unwrap();
    let leaf = leaf_bytes(dir.path(), &["useridentity.accesskeyid"]);

    let sql = format!("SELECT count(*) AS n FROM cloudtrail WHERE useridentity.accesskeyid = '{key}'");
    let (batches, scanned) = run_measured(&sess, &sql).await;
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains(&format!("| {want} ")), "{key}: want {want} rows\n{text}");
    let scans = sess.take_scans();
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert!(scans[0].row_groups_skipped > 0, "no row group skipped for a key in {want} events: {scans:?}");
    assert!(scanned < leaf, "scanned {scanned} bytes, the whole leaf is {leaf}");

    // An IN list keeps every row group that holds one of its values.
    let sql = format!(
        "SELECT count(*) AS n FROM cloudtrail WHERE useridentity.accesskeyid IN ('AKIANOSUCHKEY0000000', '{key}')"
    );
    let text = pretty_format_batches(&sess.sql(&sql).await.unwrap()).unwrap().to_string();
    assert!(text.contains(&format!("| {want} ")), "{text}");

    // A key no file holds: every row group is ruled out, no data page is read.
    sess.take_scans();
    let (batches, scanned) =
        run_measured(&sess, "SELECT eventname FROM cloudtrail WHERE useridentity.accesskeyid = 'AKIANOSUCHKEY0000000'")
            .await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    let scans = sess.take_scans();
    assert!(scans[0].files < scans[0].candidates, "no file dropped: {scans:?}");
    assert!(scanned < leaf / 4, "scanned {scanned} bytes for a value no bloom filter holds (leaf {leaf})");
}

/// Rows of `sql` as sorted text lines.
async fn rows(sess: &query::LakeSession, sql: &str) -> Vec<String> {
    let batches = sess.sql(sql).await.unwrap_or_else(|e| panic!("{sql}\n{e}"));
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Queries that DataFusion 55's leaf expression pushdown fails to plan or answers wrongly
/// (apache/datafusion#22895, #24241, #25414), plus the everyday CloudTrail joins.
const SHAPES: &[&str] = &[
    // Join keys on struct fields (#22895).
    "SELECT count(*) FROM cloudtrail a JOIN (SELECT DISTINCT recipientaccountid AS k FROM cloudtrail) b
     ON coalesce(a.useridentity.accountid, a.recipientaccountid) = b.k",
    "SELECT count(*) FROM cloudtrail a
     JOIN (SELECT DISTINCT lower(useridentity.arn) AS k FROM cloudtrail WHERE eventname = 'AssumeRole') b
     ON lower(a.useridentity.arn) = b.k",
    "SELECT r.eventtime FROM cloudtrail r
     JOIN (SELECT useridentity.principalid AS uid FROM cloudtrail WHERE eventname = 'ConsoleLogin') f
       ON f.uid = r.useridentity.principalid
     WHERE r.useridentity.type IN (SELECT useridentity.type FROM cloudtrail WHERE errorcode IS NOT NULL)",
    // An actor's calls within an hour after a console login (the benchmark's join).
    "SELECT l.useridentity.arn, count(*) FROM cloudtrail l JOIN cloudtrail c
       ON c.useridentity.arn = l.useridentity.arn
      AND c.eventtime BETWEEN l.eventtime AND l.eventtime + INTERVAL '1' HOUR
     WHERE l.eventname = 'ConsoleLogin' GROUP BY 1",
    // A self join filtered on the other side's struct field (#24241).
    "SELECT p.useridentity.type, count(1) FROM cloudtrail p LEFT JOIN cloudtrail c ON p.eventid = c.eventid
     WHERE c.useridentity.arn IS NOT NULL GROUP BY 1",
    // A computed column named like its input column (#25414: wrong rows on upstream's main;
    // right on 55.2, kept so an upgrade that brings the bug fails here).
    "SELECT eventname, useridentity.type FROM
       (SELECT upper(eventname) AS eventname, useridentity FROM cloudtrail WHERE readonly)",
    "SELECT eventname, useridentity.type FROM
       (SELECT upper(eventname) AS eventname, useridentity FROM cloudtrail WHERE eventname > 'D')",
    "SELECT readonly, useridentity.type FROM
       (SELECT NOT readonly AS readonly, useridentity FROM cloudtrail WHERE readonly)",
    "SELECT readonly, useridentity.type FROM
       (SELECT NOT readonly AS readonly, useridentity FROM cloudtrail ORDER BY eventid LIMIT 10)",
    "SELECT eventtime, useridentity.type FROM
       (SELECT eventtime + INTERVAL '1' DAY AS eventtime, useridentity FROM cloudtrail ORDER BY eventid LIMIT 10)",
    "SELECT eventname, count(*) FROM
       (SELECT upper(eventname) AS eventname, useridentity FROM cloudtrail) WHERE useridentity.type = 'Root' GROUP BY 1",
    "SELECT eventname, useridentity.type FROM
       (SELECT upper(eventname) AS eventname, useridentity FROM cloudtrail) ORDER BY useridentity.arn, eventname LIMIT 30",
    "SELECT eventname, useridentity.type FROM
       (SELECT lower(eventname) AS eventname, useridentity FROM cloudtrail ORDER BY eventid LIMIT 50)",
    "SELECT eventname, useridentity.arn FROM
       (SELECT length(eventname) AS eventname, useridentity FROM cloudtrail ORDER BY eventid LIMIT 20)",
];

#[tokio::test]
async fn leaf_pushdown_returns_what_it_returns_when_off_for_the_shapes_that_break_it() {
    let f = fixture();
    let on = session(f).await;
    let off = session(f).await;
    off.context().sql("SET datafusion.optimizer.enable_leaf_expression_pushdown = false").await.unwrap();
    for sql in SHAPES {
        let want = rows(&off, sql).await;
        assert!(want.len() > 4, "the shape returns rows: {sql}");
        assert_eq!(rows(&on, sql).await, want, "{sql}");
    }
    // And the pushdown is on: the scan itself computes the leaf.
    let sql = "EXPLAIN SELECT e, useridentity.type FROM (SELECT upper(eventname) AS e, useridentity FROM cloudtrail)";
    let plan = rows(&on, sql).await.join("\n");
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).unwrap_or_default();
    assert!(scan.contains("get_field(useridentity@"), "the scan reads the leaf: {scan}");
}

#[tokio::test]
async fn compaction_sorts_each_day_so_an_event_name_filter_reads_few_row_groups() {
    let f = fixture();
    let dir = compacted_copy(f);
    // Every compacted file's rows run in (eventsource, eventname) order.
    let mut files = Vec::new();
    walk(&dir.path().join(CLOUDTRAIL_TABLE), &mut files);
    let ctx = datafusion::prelude::SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_target_partitions(1),
    );
    for file in &files {
        let df = ctx.read_parquet(file.display().to_string(), Default::default()).await.unwrap();
        let batches = df.select_columns(&["eventsource", "eventname"]).unwrap().collect().await.unwrap();
        let mut last: Option<(String, String)> = None;
        for b in &batches {
            let text = |i: usize| arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8).unwrap();
            let (s, n) = (text(0), text(1));
            let (s, n) = (s.as_string::<i32>(), n.as_string::<i32>());
            for i in 0..b.num_rows() {
                let row = (s.value(i).to_string(), n.value(i).to_string());
                assert!(last.as_ref().is_none_or(|l| *l <= row), "{}: {last:?} then {row:?}", file.display());
                last = Some(row);
            }
        }
    }
    // The rarest event name: its rows sit in one or two row groups of each day.
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for e in &f.events {
        *counts.entry(e["eventName"].as_str().unwrap()).or_default() += 1;
    }
    let (name, want) = counts.iter().min_by_key(|(k, n)| (**n, **k)).map(|(k, n)| (k.to_string(), *n)).unwrap();
    let sess = query::LakeSession::open(&dir.path().display().to_string(), &LakeOptions::default()).await.unwrap();
    let sql = format!("SELECT count(eventid) AS n FROM cloudtrail WHERE eventname = '{name}'");
    let (batches, scanned) = run_measured(&sess, &sql).await;
    let text = pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains(&format!("| {want} ")), "{name}: want {want}\n{text}");
    let whole = leaf_bytes(dir.path(), &["eventname", "eventid"]);
    assert!(scanned * 4 < whole, "scanned {scanned} of {whole} bytes for {want} rows");
    // A sorted day is left as it is.
    let lake = Lake::open_existing(&dir.path().display().to_string(), &LakeOptions::default()).await.unwrap();
    assert_eq!(lake.compact(1 << 30, 0).await.unwrap().days_sorted, 0);
}
