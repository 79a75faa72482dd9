//! Backfill from an S3 prefix, over the wire with the real aws-sdk-s3 client, against the
//! local S3 server that scripts/test.sh starts on 127.0.0.1.
// A test fails by panicking: unwrap() here is the assertion (clippy.toml allows it inside
// #[test] functions; the helpers beside them need it too).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
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
