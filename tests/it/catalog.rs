//! `trailhouse catalog`: a lake on the local S3 server registered in the local server's
//! Glue Data Catalog over the wire, read back with the real Glue client, unregistered;
//! `--dry-run` makes no call; `ddl` prints Athena's statement.

use aws_sdk_glue::error::ProvideErrorMetadata;
use test_support::{datasets, endpoint, run_ok, trailhouse};

async fn glue() -> aws_sdk_glue::Client {
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(endpoint()), region: Some("us-east-1".into()) };
    aws_sdk_glue::Client::new(&aws.sdk_config().await)
}

/// A new bucket holding a lake of the recorded datasets: its `s3://` location.
async fn s3_lake() -> String {
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(endpoint()), region: Some("us-east-1".into()) };
    let bucket = crate::local_aws::new_bucket(&aws.s3_client().await, "catalog").await;
    let lake = format!("s3://{bucket}/trailhouse");
    run_ok(trailhouse().args(["ingest", "--endpoint-url", &endpoint(), "--lake", &lake, "--source"]).arg(datasets()));
    lake
}

fn catalog(args: &[&str]) -> String {
    run_ok(trailhouse().arg("catalog").args(args).args(["--endpoint-url", &endpoint()]))
}

#[tokio::test(flavor = "multi_thread")]
async fn register_puts_each_lake_table_in_glue_as_delta_with_its_location_and_columns() {
    let lake = s3_lake().await;
    let db = format!("sec_{}", uuid::Uuid::new_v4().simple());
    let glue = glue().await;

    // A dry run lists the calls and makes none: the database is still not there.
    let dry = catalog(&["register", "--lake", &lake, "--glue-database", &db, "--dry-run"]);
    assert!(dry.contains("glue:CreateDatabase"), "{dry}");
    assert!(dry.contains("glue:CreateTable") && dry.contains(&format!("{lake}/cloudtrail/")), "{dry}");
    let missing = glue.get_database().name(&db).send().await.unwrap_err();
    assert_eq!(missing.code(), Some("EntityNotFoundException"));

    let out = catalog(&["register", "--lake", &lake, "--glue-database", &db]);
    assert!(out.contains("cloudtrail") && out.contains("ingested_files"), "{out}");
    let t = glue.get_table().database_name(&db).name("cloudtrail").send().await.unwrap();
    let t = t.table().unwrap();
    let params = t.parameters().unwrap();
    assert_eq!(params.get("table_type").map(String::as_str), Some("DELTA"));
    let sd = t.storage_descriptor().unwrap();
    assert_eq!(sd.location(), Some(format!("{lake}/cloudtrail/").as_str()));
    let col = |name: &str| sd.columns().iter().find(|c| c.name() == name).and_then(|c| c.r#type()).map(str::to_string);
    assert_eq!(col("eventtime").as_deref(), Some("timestamp"));
    assert_eq!(col("eventname").as_deref(), Some("string"));
    let who = col("useridentity").unwrap();
    assert!(who.starts_with("struct<type:string,principalid:string,arn:string"), "{who}");
    let parts: Vec<(&str, Option<&str>)> = t.partition_keys().iter().map(|c| (c.name(), c.r#type())).collect();
    assert_eq!(parts, vec![("eventdate", Some("date"))]);
    // The ledger too, and nothing that the lake does not hold (no alerts were written).
    glue.get_table().database_name(&db).name("ingested_files").send().await.unwrap();
    let alerts = glue.get_table().database_name(&db).name("alerts").send().await.unwrap_err();
    assert_eq!(alerts.code(), Some("EntityNotFoundException"));

    // Registering again updates in place.
    let again = catalog(&["register", "--lake", &lake, "--glue-database", &db, "--dry-run"]);
    assert!(!again.contains("CreateDatabase") && again.contains("glue:UpdateTable"), "{again}");

    // A table of the same name that trailhouse did not write is not unregistered.
    let foreign = aws_sdk_glue::types::TableInput::builder().name("cloudtrail_logs").build().unwrap();
    glue.create_table().database_name(&db).table_input(foreign).send().await.unwrap();
    let out = catalog(&["unregister", "--lake", &lake, "--glue-database", &db]);
    assert!(out.contains("Removed"), "{out}");
    for gone in ["cloudtrail", "ingested_files"] {
        let e = glue.get_table().database_name(&db).name(gone).send().await.unwrap_err();
        assert_eq!(e.code(), Some("EntityNotFoundException"), "{gone}");
    }
    glue.get_table().database_name(&db).name("cloudtrail_logs").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_prints_athenas_delta_statement_and_a_local_lake_is_refused() {
    let lake = s3_lake().await;
    let ddl = catalog(&["ddl", "--lake", &lake, "--database", "security"]);
    assert!(
        ddl.contains(&format!(
            "CREATE EXTERNAL TABLE `security`.`cloudtrail`\nLOCATION '{lake}/cloudtrail/'\nTBLPROPERTIES ('table_type' = 'DELTA');"
        )),
        "{ddl}"
    );
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("lake");
    run_ok(trailhouse().args(["ingest", "--source"]).arg(datasets().join("cloud-snitch")).arg("--lake").arg(&local));
    let out = trailhouse().args(["catalog", "ddl", "--lake"]).arg(&local).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not on S3"), "{err}");
}
