//! catalog: the lake's Delta tables where the rest of AWS looks for tables.
//!
//! [`register`] writes each table of a lake on S3 into the AWS Glue Data Catalog as a Delta
//! table: `table_type = DELTA` and the location of the table's folder, which Athena
//! engine 3 reads natively (the schema from the Delta log, every new commit seen at once,
//! no crawler, no `MSCK REPAIR`), plus the columns and partition keys in Glue's types so
//! that Redshift Spectrum, EMR and the Glue console show them. [`unregister`] removes
//! what `register` wrote (tables it did not write are left alone). [`athena_ddl`] is the
//! same registration as Athena's `CREATE EXTERNAL TABLE`. Both [`register`] and
//! [`unregister`] can run dry: the writes they would make are returned, not sent.
//!
//! A call AWS refuses names the IAM action the caller lacks ([`CatalogError::Refused`]).

use std::collections::HashMap;

use arrow::datatypes::{DataType, Field};
use aws_sdk_glue::error::ProvideErrorMetadata;
use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use serde_json::{Value, json};

/// The parameter marking a Glue table as registered by trailhouse (`unregister` deletes
/// only tables that carry it).
pub const MARKER: &str = "trailhouse_lake";

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// AWS refused a call for want of a permission.
    #[error(
        "Glue refused {operation} on {resource} ({code}: {message}): the caller needs the IAM action {action} \
         on it (docs/iam.md, \"Glue catalog\")"
    )]
    Refused { operation: &'static str, action: &'static str, resource: String, code: String, message: String },
    /// Any other failure of a Glue call.
    #[error("Glue {operation} on {resource} failed: {message}")]
    Glue { operation: &'static str, resource: String, message: String },
    /// The lake could not be read.
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    /// What was asked cannot work.
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// One lake table as a catalog sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTable {
    /// The table's name in the lake (and in the catalog).
    pub name: String,
    /// Its folder, `s3://bucket/prefix/<name>/`.
    pub location: String,
    /// `(name, Glue type)` of each column that is not a partition key.
    pub columns: Vec<(String, String)>,
    /// `(name, Glue type)` of each partition column.
    pub partition_keys: Vec<(String, String)>,
}

/// A call [`register`] or [`unregister`] made, or would make when dry.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The Glue API operation (`CreateTable`, ...).
    pub operation: &'static str,
    /// Its input, as the API's JSON.
    pub input: Value,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "glue:{} {}", self.operation, self.input)
    }
}

/// Glue's (Hive's) type for an Arrow type.
pub fn glue_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 | DataType::UInt8 | DataType::UInt16 => "int".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "binary".into()
        }
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", glue_type(f.data_type()))
        }
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields.iter().map(|f| format!("{}:{}", f.name(), glue_type(f.data_type()))).collect::<Vec<_>>().join(",")
        ),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", glue_type(kv[0].data_type()), glue_type(kv[1].data_type()))
            }
            _ => "string".into(),
        },
        // Nothing the lake writes; Glue has no closer type.
        _ => "string".into(),
    }
}

/// The tables a lake holds (those written at least once), as a catalog sees them. The
/// lake must be on S3: Glue and Athena read only S3 locations.
pub async fn lake_tables(lake: &lake::Lake) -> Result<Vec<CatalogTable>> {
    if !lake.location().starts_with("s3://") {
        return Err(CatalogError::Usage(format!(
            "{} is not on S3: the Glue Data Catalog and Athena read tables from s3:// locations only \
             (ingest into --lake s3://BUCKET/PREFIX, or copy the lake there first)",
            lake.location()
        )));
    }
    let mut out = Vec::new();
    for name in lake::TABLES {
        let Some(table) = lake.try_table(name).await? else { continue };
        let err = lake::LakeError::delta(lake.location());
        let snapshot = table.snapshot().map_err(&err)?;
        let schema = snapshot.snapshot().arrow_schema();
        let partitions: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        let glue = |f: &Field| (f.name().clone(), glue_type(f.data_type()));
        out.push(CatalogTable {
            name: name.to_string(),
            location: format!("{}/{name}/", lake.location().trim_end_matches('/')),
            columns: schema.fields().iter().filter(|f| !partitions.contains(f.name())).map(|f| glue(f)).collect(),
            partition_keys: partitions.iter().filter_map(|p| schema.field_with_name(p).ok()).map(glue).collect(),
        });
    }
    Ok(out)
}

/// Athena's DDL for a table: Athena engine 3 reads a Delta table natively from its location
/// (columns and partitions from the Delta log, so none are declared).
pub fn athena_ddl(database: Option<&str>, t: &CatalogTable) -> String {
    let name = match database {
        Some(db) => format!("`{db}`.`{}`", t.name),
        None => format!("`{}`", t.name),
    };
    format!("CREATE EXTERNAL TABLE {name}\nLOCATION '{}'\nTBLPROPERTIES ('table_type' = 'DELTA');", t.location)
}

fn table_input(t: &CatalogTable) -> TableInput {
    let column = |(name, ty): &(String, String)| Column::builder().name(name).r#type(ty).build().expect("name set");
    let storage = StorageDescriptor::builder()
        .location(&t.location)
        .set_columns(Some(t.columns.iter().map(column).collect()))
        .input_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
        .output_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
        .serde_info(
            SerDeInfo::builder()
                .serialization_library("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
                .parameters("serialization.format", "1")
                .build(),
        )
        .build();
    TableInput::builder()
        .name(&t.name)
        .description(format!("trailhouse lake table {} (Delta)", t.name))
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(HashMap::from([
            ("table_type".to_string(), "DELTA".to_string()),
            ("classification".to_string(), "delta".to_string()),
            ("EXTERNAL".to_string(), "TRUE".to_string()),
            (MARKER.to_string(), "true".to_string()),
        ])))
        .storage_descriptor(storage)
        .set_partition_keys(Some(t.partition_keys.iter().map(column).collect()))
        .build()
        .expect("name set")
}

/// What the dry run prints for a table: the request `table_input` builds, as JSON (the
/// SDK's types do not serialize; this reads them back, so the two cannot differ).
fn table_json(database: &str, input: &TableInput) -> Value {
    let cols = |c: &[Column]| c.iter().map(|c| json!({"Name": c.name(), "Type": c.r#type()})).collect::<Vec<_>>();
    let sd = input.storage_descriptor();
    let params: std::collections::BTreeMap<&String, &String> =
        input.parameters().map(|p| p.iter().collect()).unwrap_or_default();
    let serde = sd.and_then(|s| s.serde_info());
    json!({
        "DatabaseName": database,
        "TableInput": {
            "Name": input.name(),
            "Description": input.description(),
            "TableType": input.table_type(),
            "Parameters": params,
            "StorageDescriptor": {
                "Location": sd.and_then(|s| s.location()),
                "Columns": cols(sd.map(|s| s.columns()).unwrap_or_default()),
                "InputFormat": sd.and_then(|s| s.input_format()),
                "OutputFormat": sd.and_then(|s| s.output_format()),
                "SerdeInfo": {
                    "SerializationLibrary": serde.and_then(|s| s.serialization_library()),
                    "Parameters": serde.and_then(|s| s.parameters()),
                },
            },
            "PartitionKeys": cols(input.partition_keys()),
        }
    })
}

/// The IAM action behind a Glue operation (what a refusal names).
fn action(operation: &str) -> &'static str {
    match operation {
        "GetDatabase" => "glue:GetDatabase",
        "CreateDatabase" => "glue:CreateDatabase",
        "GetTable" => "glue:GetTable",
        "CreateTable" => "glue:CreateTable",
        "UpdateTable" => "glue:UpdateTable",
        "DeleteTable" => "glue:DeleteTable",
        _ => "glue:*",
    }
}

/// Turns a Glue SDK error into ours; `None` for "not found" (the caller decides).
fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    operation: &'static str,
    resource: &str,
    e: &aws_sdk_glue::error::SdkError<E>,
) -> Option<CatalogError> {
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().map(str::to_string).unwrap_or_else(|| format!("{e:?}"));
    match code.as_str() {
        "EntityNotFoundException" => None,
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" | "UnrecognizedClientException" => {
            Some(CatalogError::Refused {
                operation,
                action: action(operation),
                resource: resource.to_string(),
                code,
                message,
            })
        }
        _ => Some(CatalogError::Glue { operation, resource: resource.to_string(), message }),
    }
}

/// Registers `tables` in the Glue database `database` (created when missing): each table
/// created, or updated when it exists (so registering again after the schema grew brings
/// the catalog along). With `dry_run`, only the reads are made (whether the database and
/// each table exist) and the writes are returned as they would be made.
pub async fn register(
    glue: &aws_sdk_glue::Client,
    database: &str,
    tables: &[CatalogTable],
    dry_run: bool,
) -> Result<Vec<Call>> {
    let mut calls = Vec::new();
    let db_exists = match glue.get_database().name(database).send().await {
        Ok(_) => true,
        Err(e) => match classify("GetDatabase", database, &e) {
            None => false,
            Some(err) => return Err(err),
        },
    };
    if !db_exists {
        calls.push(Call {
            operation: "CreateDatabase",
            input: json!({"DatabaseInput": {"Name": database, "Description": "trailhouse lake tables"}}),
        });
        if !dry_run {
            let input = DatabaseInput::builder()
                .name(database)
                .description("trailhouse lake tables")
                .build()
                .expect("name set");
            glue.create_database().database_input(input).send().await.map_err(|e| {
                classify("CreateDatabase", database, &e)
                    .unwrap_or_else(|| unreachable_not_found("CreateDatabase", database))
            })?;
        }
    }
    for t in tables {
        let resource = format!("{database}.{}", t.name);
        let exists = db_exists
            && match glue.get_table().database_name(database).name(&t.name).send().await {
                Ok(_) => true,
                Err(e) => match classify("GetTable", &resource, &e) {
                    None => false,
                    Some(err) => return Err(err),
                },
            };
        let operation = if exists { "UpdateTable" } else { "CreateTable" };
        let input = table_input(t);
        calls.push(Call { operation, input: table_json(database, &input) });
        if dry_run {
            continue;
        }
        let refused = if exists {
            let sent = glue.update_table().database_name(database).table_input(input).send().await;
            sent.err().map(|e| classify(operation, &resource, &e))
        } else {
            let sent = glue.create_table().database_name(database).table_input(input).send().await;
            sent.err().map(|e| classify(operation, &resource, &e))
        };
        if let Some(e) = refused {
            return Err(e.unwrap_or_else(|| unreachable_not_found(operation, &resource)));
        }
        tracing::info!(database, table = %t.name, location = %t.location, operation, "Registered in Glue.");
    }
    Ok(calls)
}

/// "Not found" where it cannot be: the database or table was just seen, and went away
/// (somebody deleted it) before `operation` reached it.
fn unreachable_not_found(operation: &'static str, resource: &str) -> CatalogError {
    CatalogError::Glue {
        operation,
        resource: resource.to_string(),
        message: "not found: it was deleted while this ran; run again".into(),
    }
}

/// Deletes from `database` the lake tables `register` wrote there (those carrying
/// [`MARKER`]); a table of the same name somebody else made is left alone and named.
/// Returns the calls made (or, with `dry_run`, that would be).
pub async fn unregister(
    glue: &aws_sdk_glue::Client,
    database: &str,
    tables: &[String],
    dry_run: bool,
) -> Result<Vec<Call>> {
    let mut calls = Vec::new();
    for name in tables {
        let resource = format!("{database}.{name}");
        let ours = match glue.get_table().database_name(database).name(name).send().await {
            Ok(t) => t.table().and_then(|t| t.parameters()).is_some_and(|p| p.contains_key(MARKER)),
            Err(e) => match classify("GetTable", &resource, &e) {
                None => continue,
                Some(err) => return Err(err),
            },
        };
        if !ours {
            tracing::warn!(%resource, "Not registered by trailhouse (no {MARKER} parameter): left alone.");
            continue;
        }
        calls.push(Call { operation: "DeleteTable", input: json!({"DatabaseName": database, "Name": name}) });
        if !dry_run {
            glue.delete_table().database_name(database).name(name).send().await.map_err(|e| {
                classify("DeleteTable", &resource, &e)
                    .unwrap_or_else(|| unreachable_not_found("DeleteTable", &resource))
            })?;
        }
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_types_spell_nested_columns_as_hive_does() {
        let arn = Field::new("arn", DataType::Utf8, true);
        let list = DataType::List(std::sync::Arc::new(Field::new("element", DataType::Int64, true)));
        let s = DataType::Struct(vec![arn, Field::new("n", list, true)].into());
        assert_eq!(glue_type(&s), "struct<arn:string,n:array<bigint>>");
        assert_eq!(glue_type(&DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None)), "timestamp");
        assert_eq!(glue_type(&DataType::Date32), "date");
    }

    #[test]
    fn athena_ddl_names_the_location_and_delta() {
        let t = CatalogTable {
            name: "cloudtrail".into(),
            location: "s3://b/lake/cloudtrail/".into(),
            columns: vec![],
            partition_keys: vec![],
        };
        assert_eq!(
            athena_ddl(Some("sec"), &t),
            "CREATE EXTERNAL TABLE `sec`.`cloudtrail`\nLOCATION 's3://b/lake/cloudtrail/'\nTBLPROPERTIES ('table_type' = 'DELTA');"
        );
    }
}
