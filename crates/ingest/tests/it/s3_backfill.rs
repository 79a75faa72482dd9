//! Backfill from an S3 prefix, over the wire with the real aws-sdk-s3 client, against the
//! local S3 server that scripts/test.sh starts on 127.0.0.1.

use test_support::*;

use crate::{aws, quiet};
use ingest::backfill::backfill;
use ingest::source::Source;
use lake::{Lake, LakeOptions};

async fn upload_dir(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str, dir: &std::path::Path) -> u64 {
    let files = log_files(dir);
    for p in &files {
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
        let body = std::fs::read(p).unwrap();
        client.put_object().bucket(bucket).key(format!("{prefix}{rel}")).body(body.into()).send().await.unwrap();
    }
    files.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_prefix_backfill_ingests_everything_once() {
    let aws = aws();
    let client = aws.s3_client().await;
    let bucket = format!("trail-{}", uuid::Uuid::new_v4());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let uploaded = upload_dir(&client, &bucket, "central/", &datasets()).await;
    assert_eq!(uploaded, DATASET_FILES);
    // A non-CloudTrail object beside the logs is skipped; a digest (here not even gzip) is
    // checked and recorded with its problem, not ingested as events.
    for key in [
        "central/AWSLogs/218007301253/CloudTrail-Digest/us-east-1/2023/07/10/218007301253_CloudTrail-Digest_us-east-1_t_us-east-1_20230710T124000Z.json.gz",
        "central/AWSLogs/218007301253/Config/us-east-1/2023/07/10/config.json.gz",
    ] {
        client.put_object().bucket(&bucket).key(key).body(b"{}".to_vec().into()).send().await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open_or_create(dir.path().join("lake").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source = Source::parse(&format!("s3://{bucket}/central/"), &aws).await.unwrap();
    let s = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!((s.files, s.events, s.files_not_logs, s.files_quarantined), (DATASET_FILES, DATASET_EVENTS, 1, 0));
    assert_eq!((s.digests_checked, s.digests_with_problems), (1, 1));

    let again = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!((again.files, again.events, again.files_already_ingested), (0, 0, DATASET_FILES + 1));
    assert_eq!(again.digests_checked, 0, "a digest is checked once");

    // The lineage column names the S3 objects.
    let t = lake.table("cloudtrail").await.unwrap();
    let sql = format!("SELECT count(*) FROM t WHERE source_object LIKE 's3://{bucket}/central/%/AWSLogs/%'");
    let b = lake::read_table(&t, &sql).await.unwrap();
    let n = b[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0);
    assert_eq!(n as u64, DATASET_EVENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_on_s3_round_trips() {
    let aws = aws();
    let client = aws.s3_client().await;
    let bucket = format!("lake-{}", uuid::Uuid::new_v4());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let options = LakeOptions { storage_options: aws.lake_storage_options(), ..Default::default() };
    let location = format!("s3://{bucket}/lake");
    let lake = Lake::open_or_create(&location, &options).await.unwrap();
    let source = Source::parse(datasets().join("cloud-snitch").to_str().unwrap(), &Default::default()).await.unwrap();
    let s = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!(s.events, 21);
    let again = backfill(&lake, &source, &quiet()).await.unwrap();
    assert_eq!(again.events, 0);
    let listed = client.list_objects_v2().bucket(&bucket).prefix("lake/cloudtrail/_delta_log/").send().await.unwrap();
    assert!(listed.contents().len() >= 2, "delta log on S3");
}

/// Ledger rows of the lake: (rows, distinct names, rows named outside `AWSLogs/`).
async fn ledger_names(lake: &Lake) -> (i64, i64, i64) {
    let t = lake.table(lake::LEDGER_TABLE).await.unwrap();
    let sql = "SELECT count(*), count(DISTINCT name), sum(CASE WHEN strpos(name, 'AWSLogs/') = 0 THEN 1 ELSE 0 END) \
               FROM t WHERE status = 'ingested'";
    let b = lake::read_table(&t, sql).await.unwrap();
    let n = |c: usize| b[0].column(c).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0);
    (n(0), n(1), if b[0].column(2).is_null(0) { 0 } else { n(2) })
}

async fn events_and_ids(lake: &Lake) -> (i64, i64) {
    let t = lake.table(lake::CLOUDTRAIL_TABLE).await.unwrap();
    let b = lake::read_table(&t, "SELECT count(*), count(DISTINCT eventid) FROM t").await.unwrap();
    let n = |c: usize| b[0].column(c).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().value(0);
    (n(0), n(1))
}

/// The same log file is one file wherever it is read from: an account's folder in a copy
/// of the bucket, then the copy's root, then the bucket itself. (A local file was named by
/// its path under the folder given, so the root's run read the account's files again.) A
/// ledger an older build wrote with those relative names is renamed when the lake is
/// opened for ingest, and the root's run skips its files too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_read_from_a_subfolder_its_parent_and_s3_is_ingested_once() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    let opts =
        sample_logs::GenerateOptions { out: copy.clone(), events: 3000, accounts: 2, seed: 11, ..Default::default() };
    let g = sample_logs::generate(&opts).unwrap();
    let org = std::fs::read_dir(copy.join("AWSLogs")).unwrap().next().unwrap().unwrap().path();
    let mut accounts: Vec<_> = std::fs::read_dir(&org).unwrap().map(|e| e.unwrap().path()).collect();
    accounts.sort();
    let in_first = log_files(&accounts[0]).len() as u64;
    let local = |p: &std::path::Path| p.to_str().unwrap().to_string();

    let lake = Lake::open_or_create(dir.path().join("lake").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let s = backfill(&lake, &Source::parse(&local(&accounts[0]), &Default::default()).await.unwrap(), &quiet())
        .await
        .unwrap();
    assert_eq!(s.files, in_first);
    let s = backfill(&lake, &Source::parse(&local(&copy), &Default::default()).await.unwrap(), &quiet()).await.unwrap();
    assert_eq!((s.files, s.files_already_ingested), (g.files - in_first, in_first), "{s:?}");

    let aws = aws();
    let client = aws.s3_client().await;
    let bucket = format!("trail-{}", uuid::Uuid::new_v4());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    assert_eq!(upload_dir(&client, &bucket, "", &copy).await, g.files);
    let s = backfill(&lake, &Source::parse(&format!("s3://{bucket}/"), &aws).await.unwrap(), &quiet()).await.unwrap();
    assert_eq!((s.files, s.events, s.files_already_ingested), (0, 0, g.files), "{s:?}");
    assert_eq!(events_and_ids(&lake).await, (g.events as i64, g.events as i64));
    assert_eq!(ledger_names(&lake).await, (g.files as i64, g.files as i64, 0));

    // An older build's lake: the first account's files named from below the account folder.
    let old = Lake::open_or_create(dir.path().join("old").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    backfill(&old, &Source::parse(&local(&accounts[0]), &Default::default()).await.unwrap(), &quiet()).await.unwrap();
    let prefix = format!("{}/", accounts[0].strip_prefix(&copy).unwrap().to_str().unwrap());
    old.table(lake::LEDGER_TABLE)
        .await
        .unwrap()
        .update()
        .with_update("name", format!("substr(name, {})", prefix.len() + 1).as_str())
        .await
        .unwrap();
    assert_eq!(ledger_names(&old).await.2, in_first as i64, "the older build's names are relative");
    let old = Lake::open_existing(dir.path().join("old").to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let s = backfill(&old, &Source::parse(&local(&copy), &Default::default()).await.unwrap(), &quiet()).await.unwrap();
    assert_eq!((s.files, s.files_already_ingested), (g.files - in_first, in_first), "{s:?}");
    assert_eq!(events_and_ids(&old).await, (g.events as i64, g.events as i64));
    assert_eq!(ledger_names(&old).await, (g.files as i64, g.files as i64, 0));
}
