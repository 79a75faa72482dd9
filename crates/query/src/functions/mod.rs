//! SQL functions analysts expect on top of DataFusion's own:
//! - JSON over the text columns: all of `datafusion-functions-json` (`json_get_str`, `->`,
//!   `->>`, ...) and the Athena/Trino names (`json_extract_scalar`, `json_extract`,
//!   `json_array_length`, `from_iso8601_timestamp`), so Athena queries run unchanged;
//! - security helpers: `cidr_match`, `is_private_ip`, `arn_account`, `arn_resource`,
//!   `principal`, `aws_service_call`;
//! - who and where ([`enrich`]): `geo_country`, `geo_city`, `geo_location`, `asn`, `asn_org`,
//!   `aws_service`, `is_aws_ip`, `account_name`.

mod arn;
mod enrich;
mod ip;
mod json_path;
mod sigma;
mod time;
mod trino;

pub(crate) use time::parse as parse_time;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Registers every function of this crate (and datafusion-functions-json) in `registry`.
pub fn register(registry: &mut dyn FunctionRegistry) -> Result<()> {
    datafusion_functions_json::register_all(registry)?;
    for udf in all() {
        registry.register_udf(Arc::new(udf))?;
    }
    // After DataFusion's own: it replaces the `element_at` alias of `map_extract`, which
    // gives the name up for good.
    registry.register_udf(Arc::new(trino::map_extract_alone()))?;
    registry.register_udf(Arc::new(trino::element_at()))?;
    // Likewise `to_char` gives up `date_format` to Trino's.
    registry.register_udf(Arc::new(trino::to_char_alone()))?;
    registry.register_udf(Arc::new(trino::date_format()))?;
    // After DataFusion's own too: `replace` also takes Trino's two arguments.
    registry.register_udf(Arc::new(trino::event_json()))?;
    for udf in trino::lake_functions() {
        registry.register_udf(Arc::new(udf))?;
    }
    for udaf in [trino::max_by(), trino::min_by(), trino::arbitrary()] {
        registry.register_udaf(Arc::new(udaf))?;
    }
    registry.register_udaf(Arc::new(crate::rollups::rollup_distinct()))?;
    enrich::register_with(registry, ::enrich::shared())
}

pub use enrich::functions as enrichment_functions;

/// Name and one-line description of each function this crate adds, for `\df` and docs.
pub fn catalog() -> Vec<(&'static str, &'static str)> {
    vec![
        ("json_extract_scalar(json, '$.path')", "Athena: the scalar at a JSONPath as text (NULL for objects/arrays)"),
        ("json_extract(json, '$.path')", "Athena: the JSON text of the value at a JSONPath"),
        ("json_array_length(json)", "Athena: number of elements of a JSON array (NULL if not an array)"),
        ("from_iso8601_timestamp(text)", "Athena: ISO 8601 text (or a timestamp) to a UTC timestamp"),
        ("date_add(unit, n, timestamp)", "Trino: timestamp plus n units (second .. year)"),
        ("date_diff(unit, t1, t2)", "Trino: whole units from t1 to t2"),
        (
            "element_at(json_or_array, key_or_index)",
            "Trino/CloudTrail Lake: the value at a key of a JSON column as text, or an array's element (1-based)",
        ),
        (
            "json_array_get(json_array, i)",
            "Trino: the element at a 0-based index (negative from the end) of a JSON array, as JSON text",
        ),
        (
            "event_json(...)",
            "CloudTrail Lake's eventjson: a row rebuilt as its CloudTrail event, JSON text (the cloudtrail_lake view's column)",
        ),
        ("max_by(x, y) / min_by(x, y)", "Trino: aggregate, the x of the row with the largest (smallest) y"),
        ("arbitrary(x)", "Trino: aggregate, any non-NULL x of the group (any_value)"),
        ("if(cond, a[, b])", "Trino: CASE WHEN cond THEN a [ELSE b] END"),
        (
            "date_format(timestamp, '%Y-%m-%d %H:%i:%s')",
            "Trino/MySQL: a timestamp as text, MySQL's specifiers (%i minutes, %s seconds, %M month name); to_char takes chrono's",
        ),
        ("date(x)", "Trino: x as a date (a UTC timestamp's day)"),
        (
            "year(x), month(x), day(x), hour(x), minute(x), second(x), day_of_week(x), ...",
            "Trino: a field of a timestamp as a bigint (day_of_week/dow 1 = Monday; also quarter, week, doy, yow)",
        ),
        ("replace(text, search[, with])", "Trino: every search replaced (removed when with is omitted)"),
        (
            "cidr_match(ip, 'cidr')",
            "true if the IPv4/IPv6 address is inside the CIDR; false for non-IPs such as 'AWS Internal'",
        ),
        ("is_private_ip(ip)", "true for RFC 1918, loopback, link-local, CGNAT and IPv6 ULA addresses"),
        (
            "ip_class(sourceipaddress)",
            "aws (a service acting: ec2.amazonaws.com, AWS Internal), private, public, other (other text) or none; a rollup dimension",
        ),
        (
            "rollup_distinct(source_ips)",
            "aggregate: the distinct addresses of rollup rows together (their sketches merged)",
        ),
        ("arn_account(arn)", "the account id field of an ARN"),
        ("arn_resource(arn)", "the resource part of an ARN (after the account field)"),
        ("principal(useridentity)", "one readable actor name for any identity type"),
        (
            "aws_service_call(useridentity, sourceipaddress, eventtype)",
            "true when AWS itself made the call (a service principal, invokedBy, a service-linked role, a service address, an AwsServiceEvent)",
        ),
        (
            "sigma_match(json, 'a.b', op, arg)",
            "Sigma's matching inside a JSON column: any value at the path (through arrays) matches; op eq|cased|re|cidr|exists|null",
        ),
        (
            "geo_country(ip)",
            "the address's country (ISO code), from the geoip_city file; NULL for private and service sources",
        ),
        ("geo_city(ip)", "the address's city, from the geoip_city file"),
        ("geo_location(ip)", "the address's {lat, lon}, from the geoip_city file"),
        ("geo_distance_km(ip_a, ip_b)", "great-circle km between two addresses' places (geoip_city)"),
        ("asn(ip)", "the address's autonomous system number, from the geoip_asn file"),
        ("asn_org(ip)", "the organization of the address's autonomous system, from the geoip_asn file"),
        ("aws_service(ip)", "{service, region} of the AWS range holding the address (aws_ip_ranges), NULL outside AWS"),
        ("is_aws_ip(ip)", "whether the address is in AWS's published ranges (aws_ip_ranges); NULL without them"),
        ("account_name(id)", "the account's name, from the accounts setting (a CSV or AWS Organizations)"),
        ("sigma_value(json, 'a.b')", "the first scalar at a dotted path, as text"),
        ("sigma_like(text, pattern)", "a Sigma pattern (* ? wildcards, \\ escapes) against text, case-insensitive"),
        (
            "json_get_str(json, 'a', 'b') / json ->> 'a'",
            "datafusion-functions-json: fast JSON access (also json_get_int, json_contains, json_length, ...)",
        ),
    ]
}

fn all() -> Vec<ScalarUDF> {
    vec![
        json_path::json_extract_scalar(),
        json_path::json_extract(),
        json_path::json_array_length(),
        time::from_iso8601_timestamp(),
        time::date_add(),
        time::date_diff(),
        ip::cidr_match(),
        ip::is_private_ip(),
        ip::ip_class(),
        arn::arn_account(),
        arn::arn_resource(),
        arn::principal(),
        arn::aws_service_call(),
        sigma::sigma_match(),
        sigma::sigma_value(),
        sigma::sigma_like(),
    ]
}

type Kernel = Arc<dyn Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync>;

/// A scalar function from a kernel over whole arrays: the boilerplate of `ScalarUDFImpl`
/// once, so each function is just its kernel (which may hold what it reads, as the IP
/// functions hold their files). Functions are identified by name.
struct Udf {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    kernel: Kernel,
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).field("returns", &self.returns).finish_non_exhaustive()
    }
}

impl Udf {
    fn udf(
        name: &'static str,
        signature: Signature,
        returns: DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(Udf { name, signature, returns, kernel: Arc::new(kernel) })
    }

    /// A function of `n` string arguments.
    fn strings(
        name: &'static str,
        n: usize,
        returns: DataType,
        kernel: impl Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        Self::udf(name, Signature::string(n, Volatility::Immutable), returns, kernel)
    }
}

impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}

impl Eq for Udf {}

impl std::hash::Hash for Udf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.kernel)(&arrays)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// The values of a string array of any string type, as `Option<&str>`s.
fn strings(array: &ArrayRef) -> Result<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    Ok(match array.data_type() {
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => Box::new(array.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(array.as_string_view().iter()),
        DataType::Null => Box::new(std::iter::repeat_n(None, array.len())),
        other => return exec_err!("expected a string, got {other}"),
    })
}

#[cfg(test)]
mod tests;
