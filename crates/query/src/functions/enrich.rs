//! Who and where, from the process's [`enrich::installed`] files: `geo_country(ip)`,
//! `geo_city(ip)`, `geo_location(ip)` (a `{lat, lon}` struct), `asn(ip)`, `asn_org(ip)`,
//! `aws_service(ip)` (a `{service, region}` struct), `is_aws_ip(ip)` and
//! `account_name(id)`. Each answers NULL without its file, for a private or reserved
//! address, for a service's name (`AWS Internal`) and for what the file does not know.
//!
//! CloudTrail repeats a few addresses many times: each batch looks every distinct address
//! up once. Each function holds the [`enrich::Enrichment`] it was made with: the process's
//! ([`enrich::shared`]) in every session, a rule test's fixture in that test's
//! ([`register_with`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use enrich::Enrichment;

use super::strings;

type Kernel = fn(&Enrichment, &[ArrayRef]) -> Result<ArrayRef>;

/// A function over the enrichment it holds.
#[derive(Debug)]
struct EnrichUdf {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    enrichment: Arc<Enrichment>,
    kernel: Kernel,
}

impl PartialEq for EnrichUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.enrichment, &other.enrichment)
    }
}

impl Eq for EnrichUdf {}

impl std::hash::Hash for EnrichUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for EnrichUdf {
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
        super::invoke(args, |arrays| (self.kernel)(&self.enrichment, arrays))
    }
}

/// The functions of this module over `enrichment`.
pub fn functions(enrichment: &Arc<Enrichment>) -> Vec<ScalarUDF> {
    let f = |name: &'static str, n: usize, returns: DataType, kernel: Kernel| {
        ScalarUDF::new_from_impl(EnrichUdf {
            name,
            signature: Signature::string(n, Volatility::Immutable),
            returns,
            enrichment: enrichment.clone(),
            kernel,
        })
    };
    vec![
        f("geo_country", 1, DataType::Utf8, geo_country),
        f("geo_city", 1, DataType::Utf8, geo_city),
        f("geo_location", 1, DataType::Struct(location_fields()), geo_location),
        f("geo_distance_km", 2, DataType::Float64, geo_distance_km),
        f("asn", 1, DataType::Int64, asn),
        f("asn_org", 1, DataType::Utf8, asn_org),
        f("aws_service", 1, DataType::Struct(service_fields()), aws_service),
        f("is_aws_ip", 1, DataType::Boolean, is_aws_ip),
        f("account_name", 1, DataType::Utf8, account_name),
        ScalarUDF::new_from_impl(EnrichUdf {
            name: "max_travel_kmh",
            signature: Signature::exact(vec![], Volatility::Immutable),
            returns: DataType::Float64,
            enrichment: enrichment.clone(),
            kernel: max_travel_kmh,
        }),
    ]
}

/// Registers the functions over `enrichment` in `registry`, replacing the ones there (a
/// rule test's addresses instead of the process's files).
pub fn register_with(registry: &mut dyn FunctionRegistry, enrichment: &Arc<Enrichment>) -> Result<()> {
    for udf in functions(enrichment) {
        registry.register_udf(Arc::new(udf))?;
    }
    Ok(())
}

/// Each row's answer, from one lookup per distinct value.
fn per_value<T: Clone>(array: &ArrayRef, mut look: impl FnMut(&str) -> Option<T>) -> Result<Vec<Option<T>>> {
    let mut seen: HashMap<&str, Option<T>> = HashMap::new();
    Ok(strings(array)?.map(|v| v.and_then(|v| seen.entry(v).or_insert_with(|| look(v)).clone())).collect())
}

fn text_column(values: Vec<Option<String>>) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(values.len(), 0);
    for v in values {
        out.append_option(v);
    }
    Arc::new(out.finish())
}

fn geo_country(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    Ok(text_column(per_value(&args[0], |v| ip.geo(v).and_then(|g| g.country).map(String::from))?))
}

fn geo_city(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    Ok(text_column(per_value(&args[0], |v| ip.geo(v).and_then(|g| g.city).map(String::from))?))
}

fn location_fields() -> Fields {
    Fields::from(vec![Field::new("lat", DataType::Float64, true), Field::new("lon", DataType::Float64, true)])
}

fn geo_location(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    let found = per_value(&args[0], |v| {
        let g = ip.geo(v)?;
        Some((g.latitude?, g.longitude?))
    })?;
    let (mut lat, mut lon) = (Float64Builder::new(), Float64Builder::new());
    for f in &found {
        lat.append_option(f.map(|f| f.0));
        lon.append_option(f.map(|f| f.1));
    }
    let nulls = NullBuffer::from(found.iter().map(Option::is_some).collect::<Vec<_>>());
    let columns: Vec<ArrayRef> = vec![Arc::new(lat.finish()), Arc::new(lon.finish())];
    Ok(Arc::new(StructArray::try_new(location_fields(), columns, Some(nulls))?))
}

fn asn(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    let found = per_value(&args[0], |v| ip.asn(v).map(|a| i64::from(a.number)))?;
    let mut out = Int64Builder::with_capacity(found.len());
    for f in found {
        out.append_option(f);
    }
    Ok(Arc::new(out.finish()))
}

fn asn_org(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    Ok(text_column(per_value(&args[0], |v| ip.asn(v).and_then(|a| a.organization).map(String::from))?))
}

fn service_fields() -> Fields {
    Fields::from(vec![Field::new("service", DataType::Utf8, true), Field::new("region", DataType::Utf8, true)])
}

fn aws_service(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    let found = per_value(&args[0], |v| ip.aws(v).map(|r| (r.service.to_string(), r.region.to_string())))?;
    let nulls = NullBuffer::from(found.iter().map(Option::is_some).collect::<Vec<_>>());
    let service = text_column(found.iter().map(|f| f.as_ref().map(|f| f.0.clone())).collect());
    let region = text_column(found.into_iter().map(|f| f.map(|f| f.1)).collect());
    Ok(Arc::new(StructArray::try_new(service_fields(), vec![service, region], Some(nulls))?))
}

fn is_aws_ip(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let ip = &e.ip;
    let found = per_value(&args[0], |v| ip.is_aws(v))?;
    let mut out = BooleanBuilder::with_capacity(found.len());
    for f in found {
        out.append_option(f);
    }
    Ok(Arc::new(out.finish()))
}

fn account_name(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let accounts = &e.accounts;
    Ok(text_column(per_value(&args[0], |v| accounts.name(v).map(String::from))?))
}

/// Great-circle distance between two addresses' places, in km (NULL when either is unknown).
fn geo_distance_km(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let place = |ip: &str| {
        let g = e.ip.geo(ip)?;
        Some((g.latitude?, g.longitude?))
    };
    let a = per_value(&args[0], place)?;
    let b = per_value(&args[1], place)?;
    let mut out = Float64Builder::with_capacity(a.len());
    for (a, b) in a.into_iter().zip(b) {
        out.append_option(a.zip(b).map(|(a, b)| haversine_km(a, b)));
    }
    Ok(Arc::new(out.finish()))
}

/// The great-circle distance between two (latitude, longitude) points, in km.
pub(crate) fn haversine_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    const EARTH_KM: f64 = 6371.0;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_KM * h.sqrt().min(1.0).asin()
}

/// The speed above which two places of one identity are impossible travel (the
/// `max_travel_kmh` setting; 1,000 km/h by default: a jet, with margin).
fn max_travel_kmh(e: &Enrichment, _args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(arrow::array::Float64Array::from(vec![e.max_travel_kmh])))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_distance_between_two_places_is_the_great_circle_one() {
        // Paris - New York: 5,837 km.
        let d = super::haversine_km((48.8566, 2.3522), (40.7128, -74.0060));
        assert!((d - 5837.0).abs() < 10.0, "{d}");
        assert_eq!(super::haversine_km((1.0, 2.0), (1.0, 2.0)), 0.0);
    }
}
