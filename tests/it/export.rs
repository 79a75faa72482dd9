//! `trailhouse export` run again into the same target, as a scheduled export does: the real
//! binary, a lake it generated and ingested, the files read back with the `parquet` crate
//! (footers only), a folder and an S3 prefix on the local S3 server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use parquet::file::reader::{FileReader, SerializedFileReader};
use test_support::{endpoint, keys_under, run_ok, trailhouse};

const MANIFEST: &str = "_trailhouse_export.json";

struct Lake {
    _dir: tempfile::TempDir,
    lake: PathBuf,
    events: u64,
    /// Events per `eventdate`, as `trailhouse sql` counts them.
    per_day: BTreeMap<String, u64>,
}

/// 2,000 generated events over three days, built once for this file's tests.
fn lake() -> &'static Lake {
    static L: OnceLock<Lake> = OnceLock::new();
    L.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
        run_ok(trailhouse().args(["generate", "--events", "2000", "--seed", "3", "--days", "3", "--out"]).arg(&logs));
        run_ok(trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake));
        let out = run_ok(
            trailhouse()
                .args(["sql", "--format", "ndjson", "--lake"])
                .arg(&lake)
                .arg("SELECT CAST(eventdate AS VARCHAR) AS day, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1"),
        );
        let per_day: BTreeMap<String, u64> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["day"].as_str().unwrap().to_string(), v["n"].as_u64().unwrap())
            })
            .collect();
        assert!(per_day.len() >= 3, "the lake should span several days: {per_day:?}");
        let events = per_day.values().sum();
        assert!(events >= 2000, "{events}");
        Lake { _dir: dir, lake, events, per_day }
    })
}

/// `trailhouse export --json --lake <lake> --to <to> <args>`.
fn export(to: &str, args: &[&str]) -> Command {
    let mut c = trailhouse();
    c.args(["export", "--lake"]).arg(&lake().lake).args(["--to", to]).args(args);
    c
}

fn export_json(to: &str, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(run_ok(export(to, args).arg("--json")).trim()).unwrap()
}

/// Stderr of an export that must fail.
fn export_refused(to: &str, args: &[&str]) -> String {
    let out = export(to, args).output().unwrap();
    assert!(!out.status.success(), "export {args:?} to {to} should fail");
    assert_ne!(out.status.code(), Some(0));
    String::from_utf8(out.stderr).unwrap()
}

fn footer_rows<R: parquet::file::reader::ChunkReader + 'static>(file: R) -> u64 {
    SerializedFileReader::new(file).unwrap().metadata().file_metadata().num_rows() as u64
}

/// Every `.parquet` file under `dir` (relative path) with the rows its footer declares.
fn parquet_rows(dir: &Path) -> BTreeMap<String, u64> {
    keys_under(dir)
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .map(|k| {
            let rows = footer_rows(std::fs::File::open(dir.join(&k)).unwrap());
            (k, rows)
        })
        .collect()
}

/// The manifest's files: path -> rows.
fn manifest_files(m: &serde_json::Value) -> BTreeMap<String, u64> {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().into(), f["rows"].as_u64().unwrap()))
        .collect()
}

fn read_manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap()
}

fn day_of(path: &str) -> &str {
    path.split('/').next().unwrap().trim_start_matches("eventdate=")
}

/// Rows per day of files keyed `eventdate=.../...`.
fn rows_per_day(files: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, n) in files {
        *out.entry(day_of(k).to_string()).or_insert(0) += n;
    }
    out
}

#[test]
fn exporting_twice_to_a_folder_replaces_the_first_copy() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("bi");
    let to_s = to.to_str().unwrap();

    let first = export_json(to_s, &[]);
    assert_eq!(first["rows"].as_u64(), Some(l.events));
    assert_eq!(first["mode"], "overwrite");
    assert_eq!(first["replaced_files"], 0);
    let files1 = parquet_rows(&to);
    assert_eq!(files1.values().sum::<u64>(), l.events);
    assert_eq!(first["files"].as_u64(), Some(files1.len() as u64));

    // The second run, as a person reads it: the text summary says what it replaced.
    let text = run_ok(&mut export(to_s, &[]));
    assert!(text.contains(&format!("{} files of an earlier export replaced", files1.len())), "{text}");
    let files2 = parquet_rows(&to);
    assert_eq!(files2.values().sum::<u64>(), l.events, "the second export must not add a second copy");
    assert_eq!(rows_per_day(&files2), l.per_day);
    assert!(files2.keys().all(|k| !files1.contains_key(k)), "every file of the first run is replaced");

    let m = read_manifest(&to);
    assert_eq!(manifest_files(&m), files2, "the manifest lists exactly the files on disk");
    assert_eq!(m["rows"].as_u64(), Some(l.events));
    assert_eq!(m["partition_by"], serde_json::json!(["eventdate"]));
    let runs = m["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "the first run's files are all gone: {runs:?}");
    let run = &runs[0];
    assert_eq!(run["run"], 2);
    assert_eq!(run["rows"].as_u64(), Some(l.events));
    assert_eq!(run["replaced_files"].as_u64(), Some(files1.len() as u64));
    assert_eq!(run["lake"].as_str(), std::fs::canonicalize(&l.lake).unwrap().to_str());
    assert!(run["lake_version"].as_u64().is_some(), "{run}");
    assert!(run["sql"].as_str().unwrap().starts_with("SELECT * FROM cloudtrail"), "{run}");
    let on_disk: Vec<String> = keys_under(&to).into_iter().filter(|k| !k.ends_with(".parquet")).collect();
    assert_eq!(on_disk, vec![MANIFEST.to_string()], "nothing but Parquet files and the manifest");

    // A reader that shares no code with trailhouse reads the folder past the manifest.
    let python = test_support::python();
    let glob = format!("{to_s}/**/*.parquet");
    let out = run_ok(Command::new(python).args([
        "-c",
        "import duckdb, sys; print(duckdb.connect().execute(\"SELECT count(*) FROM read_parquet($g, \
         hive_partitioning = true)\", {\"g\": sys.argv[1]}).fetchone()[0])",
        &glob,
    ]));
    assert_eq!(out.trim(), l.events.to_string());
}

#[test]
fn a_narrower_window_replaces_only_its_own_day() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("bi");
    let to_s = to.to_str().unwrap();
    export_json(to_s, &[]);
    let files1 = parquet_rows(&to);

    let (day, _) = l.per_day.iter().nth(1).unwrap();
    let next = l.per_day.keys().nth(2).unwrap();
    let s = export_json(to_s, &["--since", day, "--until", next]);
    assert_eq!(s["rows"].as_u64(), Some(l.per_day[day]));
    let files2 = parquet_rows(&to);
    let of_day = |files: &BTreeMap<String, u64>, want: bool| -> BTreeMap<String, u64> {
        files.iter().filter(|(k, _)| (day_of(k) == day) == want).map(|(k, n)| (k.clone(), *n)).collect()
    };
    assert_eq!(s["replaced_files"].as_u64(), Some(of_day(&files1, true).len() as u64));
    assert_eq!(of_day(&files2, false), of_day(&files1, false), "the other days keep their files, same names");
    assert!(of_day(&files2, true).keys().all(|k| !files1.contains_key(k)), "the day's files are new");
    assert_eq!(rows_per_day(&files2), l.per_day);
    assert_eq!(files2.values().sum::<u64>(), l.events);

    let m = read_manifest(&to);
    assert_eq!(manifest_files(&m), files2);
    assert_eq!(m["rows"].as_u64(), Some(l.events));
    // Both runs have files left: the first for the other days, the second for its day.
    let runs = m["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r["run"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(runs[1]["since"].as_str(), Some(format!("{day}T00:00:00Z").as_str()));
    assert_eq!(runs[1]["until"].as_str(), Some(format!("{next}T00:00:00Z").as_str()));
    for f in m["files"].as_array().unwrap() {
        let want = if day_of(f["path"].as_str().unwrap()) == day { 2 } else { 1 };
        assert_eq!(f["run"], want, "{f}");
    }

    // A window that starts inside a day the target holds would replace the whole day with
    // part of it: refused, and nothing changes.
    let err = export_refused(to_s, &["--since", &format!("{day}T12:00:00Z"), "--until", next]);
    assert!(err.contains(day.as_str()) && err.contains("Export whole days") && err.contains("--mode append"), "{err}");
    assert_eq!(parquet_rows(&to), files2);
}

#[test]
fn append_doubles_only_when_asked_and_error_refuses() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("bi");
    let to_s = to.to_str().unwrap();

    // --mode error on an empty target writes.
    export_json(to_s, &["--mode", "error"]);
    let s = export_json(to_s, &["--mode", "append"]);
    assert_eq!(s["mode"], "append");
    assert_eq!(s["replaced_files"], 0);
    let files = parquet_rows(&to);
    assert_eq!(files.values().sum::<u64>(), 2 * l.events);
    let m = read_manifest(&to);
    assert_eq!(manifest_files(&m), files);
    assert_eq!(m["rows"].as_u64(), Some(2 * l.events));

    let err = export_refused(to_s, &["--mode", "error"]);
    assert!(err.contains("--mode"), "{err}");
    let mut env = export(to_s, &[]);
    let out = env.env("TRAILHOUSE_EXPORT_MODE", "error").output().unwrap();
    assert!(!out.status.success(), "TRAILHOUSE_EXPORT_MODE=error refuses too");
    assert_eq!(parquet_rows(&to), files, "a refused export changes nothing");
}

#[test]
fn a_flat_export_replaces_every_parquet_file_of_the_target() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("bi");
    let to_s = to.to_str().unwrap();
    export_json(to_s, &[]);
    let partitioned = parquet_rows(&to);
    // Another slice than the target holds (partitioned otherwise): refused by default, and
    // done when asked for; the same refusal for another --where.
    let err = export_refused(to_s, &["--partition-by", "none"]);
    assert!(err.contains("another slice") && err.contains("--mode overwrite"), "{err}");
    let err = export_refused(to_s, &["--where", "readonly"]);
    assert!(err.contains("--where differs"), "{err}");
    assert_eq!(parquet_rows(&to), partitioned);
    let s = export_json(to_s, &["--partition-by", "none", "--mode", "overwrite"]);
    assert_eq!(s["replaced_files"].as_u64(), Some(partitioned.len() as u64));
    let files = parquet_rows(&to);
    assert!(files.keys().all(|k| !k.contains('/')), "one flat folder: {files:?}");
    assert_eq!(files.values().sum::<u64>(), l.events);
    assert_eq!(manifest_files(&read_manifest(&to)), files);
    let folders: Vec<_> = std::fs::read_dir(&to).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    assert!(folders.is_empty(), "emptied partition folders are removed: {folders:?}");
}

#[test]
fn parquet_without_a_manifest_is_refused_unless_a_mode_is_given() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("theirs");
    // Somebody's Parquet file, in the folder of a day the export writes.
    let day = l.per_day.keys().next().unwrap();
    let lake_file = keys_under(&l.lake.join("cloudtrail")).into_iter().find(|k| k.ends_with(".parquet")).unwrap();
    let foreign = format!("eventdate={day}/part-00000.parquet");
    std::fs::create_dir_all(to.join(format!("eventdate={day}"))).unwrap();
    std::fs::copy(l.lake.join("cloudtrail").join(&lake_file), to.join(&foreign)).unwrap();
    let foreign_rows = parquet_rows(&to)[&foreign];
    let to_s = to.to_str().unwrap();

    let err = export_refused(to_s, &[]);
    assert!(err.contains("--mode overwrite") && err.contains("--mode append"), "{err}");
    assert_eq!(keys_under(&to), vec![foreign.clone()], "nothing written or deleted");

    // Appended beside it, their file stays and the manifest lists it (no run wrote it).
    let s = export_json(to_s, &["--mode", "append"]);
    assert_eq!(s["rows"].as_u64(), Some(l.events));
    let files = parquet_rows(&to);
    assert_eq!(files.values().sum::<u64>(), l.events + foreign_rows);
    let m = read_manifest(&to);
    assert_eq!(manifest_files(&m), files);
    let listed = m["files"].as_array().unwrap().iter().find(|f| f["path"] == foreign.as_str()).unwrap();
    assert!(listed["run"].is_null(), "{listed}");

    // With the manifest there, the default overwrites the days it writes, theirs too.
    let s = export_json(to_s, &[]);
    assert_eq!(s["mode"], "overwrite");
    let files = parquet_rows(&to);
    assert!(!files.contains_key(&foreign));
    assert_eq!(files.values().sum::<u64>(), l.events);
    assert_eq!(manifest_files(&read_manifest(&to)), files);
}

#[tokio::test(flavor = "multi_thread")]
async fn exporting_twice_to_s3_replaces_the_first_copy() {
    let l = lake();
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    let bucket = format!("export-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // A neighbour whose name starts like the target's: not part of it.
    s3.put_object()
        .bucket(&bucket)
        .key("bi-other/keep.parquet")
        .body(b"not ours".to_vec().into())
        .send()
        .await
        .unwrap();
    let to = format!("s3://{bucket}/bi");
    let endpoint = endpoint();
    let args = ["--endpoint-url", endpoint.as_str()];

    let first = export_json(&to, &args);
    assert_eq!(first["rows"].as_u64(), Some(l.events));
    let files1 = s3_parquet_rows(&s3, &bucket, "bi/").await;
    assert_eq!(files1.values().sum::<u64>(), l.events);

    let second = export_json(&to, &args);
    assert_eq!(second["replaced_files"].as_u64(), Some(files1.len() as u64));
    let files2 = s3_parquet_rows(&s3, &bucket, "bi/").await;
    assert_eq!(files2.values().sum::<u64>(), l.events, "the second export must not add a second copy");
    assert_eq!(rows_per_day(&files2), l.per_day);
    assert!(files2.keys().all(|k| !files1.contains_key(k)));

    let got = s3.get_object().bucket(&bucket).key(format!("bi/{MANIFEST}")).send().await.unwrap();
    let m: serde_json::Value = serde_json::from_slice(&got.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(manifest_files(&m), files2, "the manifest lists exactly the objects under the prefix");
    assert_eq!(m["rows"].as_u64(), Some(l.events));
    let neighbour = s3.head_object().bucket(&bucket).key("bi-other/keep.parquet").send().await;
    assert!(neighbour.is_ok(), "an object outside the prefix is never touched");
}

/// Every `.parquet` object under `prefix`, downloaded, with the rows its footer declares;
/// keys relative to `prefix`.
async fn s3_parquet_rows(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        for key in page.unwrap().contents().iter().filter_map(|o| o.key()) {
            if !key.ends_with(".parquet") {
                continue;
            }
            let got = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
            let body = got.body.collect().await.unwrap().into_bytes();
            out.insert(key.strip_prefix(prefix).unwrap().to_string(), footer_rows(body));
        }
    }
    out
}
