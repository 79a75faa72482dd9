//! The CloudTrail table's schema: one declarative spec from which the Arrow schema, the
//! decoder ([`crate::decode`]) and the event rebuild ([`crate::rebuild`]) are all derived.
//!
//! Column names follow the Athena CloudTrail table (lowercase), with stronger types:
//! timestamps for `eventtime` and `sessioncontext.attributes.creationdate`, booleans for
//! `readonly` and `managementevent`. Free-form subtrees (`requestparameters`, ...) are
//! stored as their JSON text. Nothing else in the workspace spells a column name in Rust
//! code: use the constants and helpers here.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// How one JSON field is stored.
#[derive(Debug)]
pub enum Kind {
    /// A string column; other scalar types are kept as their JSON text (and the original
    /// value is recorded in [`UNMAPPED`] so the event can be rebuilt exactly).
    Str,
    /// The field's whole JSON subtree, as compact JSON text.
    Json,
    /// A boolean; `"true"`/`"false"` strings are accepted (and recorded as unmapped).
    Bool,
    /// A UTC timestamp in microseconds, parsed from ISO 8601 text.
    Time,
    /// A nested object with known fields.
    Struct(&'static [FieldSpec]),
    /// An array of objects with known fields.
    ListOfStruct(&'static [FieldSpec]),
}

/// One field of a CloudTrail event (or of a nested object) and its column.
#[derive(Debug)]
pub struct FieldSpec {
    /// The key in CloudTrail's JSON (camelCase).
    pub json: &'static str,
    /// The column (or struct child) name: lowercase, as Athena names it.
    pub column: &'static str,
    pub kind: Kind,
}

const fn f(json: &'static str, column: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec { json, column, kind }
}

const SESSION_ISSUER: &[FieldSpec] = &[
    f("type", "type", Kind::Str),
    f("principalId", "principalid", Kind::Str),
    f("arn", "arn", Kind::Str),
    f("accountId", "accountid", Kind::Str),
    f("userName", "username", Kind::Str),
];

// Field order follows the order CloudTrail writes keys in (the decoder's lookup expects
// it; any order still works).
const SESSION_ATTRIBUTES: &[FieldSpec] =
    &[f("creationDate", "creationdate", Kind::Time), f("mfaAuthenticated", "mfaauthenticated", Kind::Str)];

const WEB_ID_FEDERATION: &[FieldSpec] =
    &[f("federatedProvider", "federatedprovider", Kind::Str), f("attributes", "attributes", Kind::Json)];

const SESSION_CONTEXT: &[FieldSpec] = &[
    f("sessionIssuer", "sessionissuer", Kind::Struct(SESSION_ISSUER)),
    f("webIdFederationData", "webidfederationdata", Kind::Struct(WEB_ID_FEDERATION)),
    f("attributes", "attributes", Kind::Struct(SESSION_ATTRIBUTES)),
    f("sourceIdentity", "sourceidentity", Kind::Str),
    f("ec2RoleDelivery", "ec2roledelivery", Kind::Str),
    f("ec2IssuedInVPC", "ec2issuedinvpc", Kind::Str),
];

const ON_BEHALF_OF: &[FieldSpec] =
    &[f("userId", "userid", Kind::Str), f("identityStoreArn", "identitystorearn", Kind::Str)];

const USER_IDENTITY: &[FieldSpec] = &[
    f("type", "type", Kind::Str),
    f("principalId", "principalid", Kind::Str),
    f("arn", "arn", Kind::Str),
    f("accountId", "accountid", Kind::Str),
    f("invokedBy", "invokedby", Kind::Str),
    f("accessKeyId", "accesskeyid", Kind::Str),
    f("userName", "username", Kind::Str),
    f("credentialId", "credentialid", Kind::Str),
    f("onBehalfOf", "onbehalfof", Kind::Struct(ON_BEHALF_OF)),
    f("sessionContext", "sessioncontext", Kind::Struct(SESSION_CONTEXT)),
    f("identityProvider", "identityprovider", Kind::Str),
];

const RESOURCE: &[FieldSpec] =
    &[f("ARN", "arn", Kind::Str), f("accountId", "accountid", Kind::Str), f("type", "type", Kind::Str)];

const TLS_DETAILS: &[FieldSpec] = &[
    f("tlsVersion", "tlsversion", Kind::Str),
    f("cipherSuite", "ciphersuite", Kind::Str),
    f("clientProvidedHostHeader", "clientprovidedhostheader", Kind::Str),
];

/// The fields of a CloudTrail event, in column order.
/// One resource's tags in an enriched event (`eventContext.tagContext.resourceTags[]`).
const RESOURCE_TAGS: &[FieldSpec] = &[f("arn", "arn", Kind::Str), f("tags", "tags", Kind::Json)];

const TAG_CONTEXT: &[FieldSpec] = &[
    f("resourceTags", "resourcetags", Kind::ListOfStruct(RESOURCE_TAGS)),
    f("principalTags", "principaltags", Kind::Json),
];

/// What CloudTrail Lake's event enrichment adds (an event data store's resource tag keys and
/// IAM global condition keys): trails do not write it, events brought from Lake may hold it.
const EVENT_CONTEXT: &[FieldSpec] =
    &[f("requestContext", "requestcontext", Kind::Json), f("tagContext", "tagcontext", Kind::Struct(TAG_CONTEXT))];

pub const EVENT: &[FieldSpec] = &[
    f("eventVersion", "eventversion", Kind::Str),
    f("userIdentity", "useridentity", Kind::Struct(USER_IDENTITY)),
    f("eventTime", "eventtime", Kind::Time),
    f("eventSource", "eventsource", Kind::Str),
    f("eventName", "eventname", Kind::Str),
    f("awsRegion", "awsregion", Kind::Str),
    f("sourceIPAddress", "sourceipaddress", Kind::Str),
    f("userAgent", "useragent", Kind::Str),
    f("errorCode", "errorcode", Kind::Str),
    f("errorMessage", "errormessage", Kind::Str),
    f("requestParameters", "requestparameters", Kind::Json),
    f("responseElements", "responseelements", Kind::Json),
    f("additionalEventData", "additionaleventdata", Kind::Json),
    f("requestID", "requestid", Kind::Str),
    f("eventID", "eventid", Kind::Str),
    f("readOnly", "readonly", Kind::Bool),
    f("resources", "resources", Kind::ListOfStruct(RESOURCE)),
    f("eventType", "eventtype", Kind::Str),
    f("apiVersion", "apiversion", Kind::Str),
    f("managementEvent", "managementevent", Kind::Bool),
    f("recipientAccountId", "recipientaccountid", Kind::Str),
    f("serviceEventDetails", "serviceeventdetails", Kind::Json),
    f("sharedEventID", "sharedeventid", Kind::Str),
    f("vpcEndpointId", "vpcendpointid", Kind::Str),
    f("vpcEndpointAccountId", "vpcendpointaccountid", Kind::Str),
    f("eventCategory", "eventcategory", Kind::Str),
    f("addendum", "addendum", Kind::Json),
    f("tlsDetails", "tlsdetails", Kind::Struct(TLS_DETAILS)),
    f("sessionCredentialFromConsole", "sessioncredentialfromconsole", Kind::Str),
    f("edgeDeviceDetails", "edgedevicedetails", Kind::Json),
    f("insightDetails", "insightdetails", Kind::Json),
    f("annotation", "annotation", Kind::Str),
    f("eventContext", "eventcontext", Kind::Struct(EVENT_CONTEXT)),
];

/// JSON text: every part of the source event the typed columns do not reproduce exactly
/// (unknown fields at any level, values of unexpected types, explicit nulls), as a list of
/// `[json-pointer, value]` pairs applied over the typed columns. Null when there is none.
pub const UNMAPPED: &str = "unmapped";
/// Lineage: the object each row came from (`s3://bucket/key` or a local path).
pub const SOURCE_OBJECT: &str = "source_object";
/// Partition column: the UTC date of `eventtime` (null when it could not be parsed).
pub const EVENT_DATE: &str = "eventdate";
/// Column names used by SQL and by other crates.
pub const EVENT_TIME: &str = "eventtime";
pub const EVENT_ID: &str = "eventid";
pub const EVENT_NAME: &str = "eventname";
pub const RECIPIENT_ACCOUNT_ID: &str = "recipientaccountid";
pub const AWS_REGION: &str = "awsregion";
pub const SOURCE_IP_ADDRESS: &str = "sourceipaddress";
pub const USER_AGENT: &str = "useragent";
pub const USER_IDENTITY_COL: &str = "useridentity";

/// Parquet leaf paths (dotted; a list's elements are `name.list.element`) whose values
/// are mostly distinct: dictionary encoding only costs time there (it hashes every value,
/// then falls back to plain past 1 MiB of dictionary). Measured on the 1M-event corpus:
/// leaving the identity, address and timestamp columns below out of the dictionary took
/// ~3% off the ingest's CPU for 1% more lake bytes. The JSON-text columns are such
/// columns too: see [`json_column_paths`].
pub const HIGH_CARDINALITY_COLUMNS: &[&str] = &[
    "eventid",
    "requestid",
    "sharedeventid",
    "unmapped",
    "eventtime",
    "sourceipaddress",
    "useridentity.principalid",
    "useridentity.arn",
    "useridentity.accesskeyid",
    "useridentity.credentialid",
    "useridentity.onbehalfof.userid",
    "useridentity.sessioncontext.attributes.creationdate",
    "resources.list.element.arn",
    "tlsdetails.clientprovidedhostheader",
];

/// The Parquet leaf paths, dotted like [`HIGH_CARDINALITY_COLUMNS`] (e.g.
/// `useridentity.sessioncontext.webidfederationdata.attributes`), of the columns holding
/// JSON text: nearly every value is distinct.
pub fn json_column_paths() -> Vec<String> {
    fn walk(specs: &[FieldSpec], prefix: &str, out: &mut Vec<String>) {
        for s in specs {
            let path = format!("{prefix}{}", s.column);
            match s.kind {
                Kind::Json => out.push(path),
                Kind::Struct(c) => walk(c, &format!("{path}."), out),
                Kind::ListOfStruct(c) => walk(c, &format!("{path}.list.element."), out),
                _ => {}
            }
        }
    }
    let mut out = vec![];
    walk(EVENT, "", &mut out);
    out
}

/// The columns the lake partitions by.
pub const PARTITION_COLUMNS: &[&str] = &[EVENT_DATE];

/// Columns with min/max statistics in the Delta log, used for file skipping.
pub const STATS_COLUMNS: &[&str] = &[
    "eventtime",
    "eventsource",
    "eventname",
    "awsregion",
    "recipientaccountid",
    "errorcode",
    "eventtype",
    "sourceipaddress",
    "eventid",
];

/// Columns an investigation searches for one value of (an access key, a principal, an
/// IP, one event or request). Compacted files carry a Parquet bloom filter for each, so a
/// needle query skips the row groups that cannot hold the value.
pub const NEEDLE_COLUMNS: &[&str] = &[
    "useridentity.accesskeyid",
    "useridentity.principalid",
    "useridentity.arn",
    "sourceipaddress",
    "eventid",
    "requestid",
];

/// The Arrow type of a timestamp column: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow field for one spec entry.
pub fn arrow_field(spec: &FieldSpec) -> Field {
    let data_type = match spec.kind {
        Kind::Str | Kind::Json => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Time => timestamp_type(),
        Kind::Struct(children) => DataType::Struct(struct_fields(children)),
        Kind::ListOfStruct(children) => {
            DataType::List(Arc::new(Field::new("element", DataType::Struct(struct_fields(children)), true)))
        }
    };
    Field::new(spec.column, data_type, true)
}

/// The Arrow fields of a nested object's spec.
pub fn struct_fields(children: &[FieldSpec]) -> Fields {
    children.iter().map(arrow_field).collect()
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = EVENT.iter().map(arrow_field).collect();
    fields.push(Field::new(UNMAPPED, DataType::Utf8, true));
    fields.push(Field::new(SOURCE_OBJECT, DataType::Utf8, false));
    fields.push(Field::new(EVENT_DATE, DataType::Date32, true));
    Arc::new(Schema::new(fields))
});

/// The Arrow schema of the `cloudtrail` table (including the partition column).
pub fn cloudtrail_schema() -> SchemaRef {
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_columns(specs: &[FieldSpec], out: &mut Vec<String>, prefix: &str) {
        for s in specs {
            let name = format!("{prefix}{}", s.column);
            match s.kind {
                Kind::Struct(c) | Kind::ListOfStruct(c) => all_columns(c, out, &format!("{name}.")),
                _ => {}
            }
            out.push(name);
        }
    }

    #[test]
    fn column_names_are_lowercase_json_names() {
        let mut names = Vec::new();
        all_columns(EVENT, &mut names, "");
        for n in &names {
            assert_eq!(n, &n.to_lowercase(), "column {n} is not lowercase");
        }
        fn check(specs: &[FieldSpec]) {
            for s in specs {
                assert_eq!(s.json.to_lowercase(), s.column, "{} vs {}", s.json, s.column);
                if let Kind::Struct(c) | Kind::ListOfStruct(c) = s.kind {
                    check(c)
                }
            }
        }
        check(EVENT);
    }

    #[test]
    fn schema_has_athena_columns_with_strong_types() {
        let schema = cloudtrail_schema();
        assert_eq!(schema.field_with_name("eventtime").unwrap().data_type(), &timestamp_type());
        assert_eq!(schema.field_with_name("readonly").unwrap().data_type(), &DataType::Boolean);
        assert_eq!(schema.field_with_name("eventdate").unwrap().data_type(), &DataType::Date32);
        for c in ["useridentity", "resources", "tlsdetails", "requestparameters", "eventid"] {
            assert!(schema.field_with_name(c).is_ok(), "missing {c}");
        }
        for c in STATS_COLUMNS {
            assert!(schema.field_with_name(c).is_ok(), "stats column {c} not in schema");
        }
    }

    #[test]
    fn json_column_paths_name_every_json_leaf_including_nested_ones() {
        let paths = json_column_paths();
        for p in [
            "requestparameters",
            "additionaleventdata",
            "insightdetails",
            "useridentity.sessioncontext.webidfederationdata.attributes",
        ] {
            assert!(paths.contains(&p.to_string()), "{p} missing from {paths:?}");
        }
        assert!(!paths.contains(&"eventname".to_string()));
    }
}
