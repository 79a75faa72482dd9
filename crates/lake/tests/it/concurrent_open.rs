//! Several processes (ingesters on one queue) open the same new lake at once: each must
//! come up, whichever of them creates the tables.

use lake::{CLOUDTRAIL_TABLE, LEDGER_TABLE, Lake, LakeOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opening_a_new_lake_from_many_processes_at_once_succeeds_in_each() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("lake").to_string_lossy().into_owned();
        let failed = open_at_once(&location, 6).await;
        assert!(failed.is_empty(), "round {round}: {failed:?}");
        let lake = Lake::open_existing(&location, &LakeOptions::default()).await.unwrap();
        for table in [CLOUDTRAIL_TABLE, LEDGER_TABLE] {
            assert_eq!(lake.table(table).await.unwrap().version(), Some(0), "{table} was created more than once");
            assert_eq!(metadata_commits(&dir.path().join("lake").join(table)).unwrap(), 1, "{table}");
        }
    }
}

/// A lake written by an older build (a column fewer) opened by several new ingesters at
/// once: each comes up, and the column is added once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrading_a_lake_from_many_processes_at_once_succeeds_in_each() {
    use arrow::datatypes::Schema;
    use lake::deltalake::DeltaTableBuilder;
    use lake::deltalake::kernel::StructType;
    use lake::deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("lake");
        let table_dir = location.join(CLOUDTRAIL_TABLE);
        std::fs::create_dir_all(&table_dir).unwrap();
        let full = lake::schema::cloudtrail_schema();
        let older =
            Schema::new(full.fields().iter().filter(|f| f.name() != "insightdetails").cloned().collect::<Vec<_>>());
        let older: StructType = (&older).try_into_kernel().unwrap();
        DeltaTableBuilder::from_url(url::Url::from_directory_path(&table_dir).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .create()
            .with_columns(older.fields().cloned())
            .with_partition_columns([lake::schema::EVENT_DATE.to_string()])
            .await
            .unwrap();

        let location = location.to_string_lossy().into_owned();
        let failed = open_at_once(&location, 6).await;
        assert!(failed.is_empty(), "round {round}: {failed:?}");
        let lake = Lake::open_existing(&location, &LakeOptions::default()).await.unwrap();
        let t = lake.table(CLOUDTRAIL_TABLE).await.unwrap();
        assert!(t.snapshot().unwrap().snapshot().arrow_schema().field_with_name("insightdetails").is_ok());
        assert_eq!(t.version(), Some(1), "the column was added more than once");
    }
}

/// Several writers append to a small table the lake does not have yet (ingesters recording
/// digests): one table is created, once, and holds every writer's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appending_to_a_new_table_from_many_writers_at_once_keeps_every_row() {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("lake").to_string_lossy().into_owned();
        let lake = Lake::open_or_create(&location, &LakeOptions::default()).await.unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("writer", DataType::Int64, false)]));
        let appends: Vec<_> = (0..6)
            .map(|w| {
                let (lake, schema) = (lake.clone(), schema.clone());
                tokio::spawn(async move {
                    let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![w]))]).unwrap();
                    lake.append("notes", vec![batch]).await
                })
            })
            .collect();
        for append in appends {
            let done = append.await.unwrap();
            assert!(done.is_ok(), "round {round}: {}", done.unwrap_err());
        }
        let t = lake.table("notes").await.unwrap();
        assert_eq!(
            metadata_commits(&dir.path().join("lake/notes")).unwrap(),
            1,
            "round {round}: created more than once"
        );
        let b = lake::read_table(&t, "SELECT count(DISTINCT writer) FROM t").await.unwrap();
        assert_eq!(b[0].column(0).as_primitive::<Int64Type>().value(0), 6, "round {round}");
    }
}

/// Opens the lake at `location` from `n` tasks at once; returns the errors.
async fn open_at_once(location: &str, n: usize) -> Vec<String> {
    let opens: Vec<_> = (0..n)
        .map(|_| {
            let location = location.to_string();
            tokio::spawn(async move { Lake::open_or_create(&location, &LakeOptions::default()).await })
        })
        .collect();
    let mut errors = vec![];
    for open in opens {
        match open.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => errors.push(e.to_string()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}

/// How many commits of a local table set its metadata (a create, or a schema change).
fn metadata_commits(table: &std::path::Path) -> std::io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(table.join("_delta_log"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "json") && std::fs::read_to_string(&path)?.contains("\"metaData\"") {
            n += 1;
        }
    }
    Ok(n)
}
