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

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use enrich::Enrichment;

use super::{Udf, strings};

type Kernel = fn(&Enrichment, &[ArrayRef]) -> Result<ArrayRef>;

/// The functions of this module over `enrichment` (each holds it).
pub fn functions(enrichment: &Arc<Enrichment>) -> Vec<ScalarUDF> {
    let f = |name: &'static str, signature: Signature, returns: DataType, kernel: Kernel| {
        let e = enrichment.clone();
        Udf::udf(name, signature, returns, move |args| kernel(&e, args))
    };
    let strings = |n| Signature::string(n, Volatility::Immutable);
    vec![
        f("geo_country", strings(1), DataType::Utf8, geo_country),
        f("geo_city", strings(1), DataType::Utf8, geo_city),
        f("geo_location", strings(1), DataType::Struct(location_fields()), geo_location),
        f("geo_distance_km", strings(2), DataType::Float64, geo_distance_km),
        f("asn", strings(1), DataType::Int64, asn),
        f("asn_org", strings(1), DataType::Utf8, asn_org),
        f("aws_service", strings(1), DataType::Struct(service_fields()), aws_service),
        f("is_aws_ip", strings(1), DataType::Boolean, is_aws_ip),
        f("account_name", strings(1), DataType::Utf8, account_name),
        f("max_travel_kmh", Signature::exact(vec![], Volatility::Immutable), DataType::Float64, max_travel_kmh),
    ]
}

/// Registers the functions over `enrichment` in `registry`, replacing the ones there.
pub fn register_with(registry: &mut dyn FunctionRegistry, enrichment: &Arc<Enrichment>) -> Result<()> {
    for udf in functions(enrichment) {
        registry.register_udf(Arc::new(udf))?;
    }
    Ok(())
}

/// Each row's answer, from one lookup per distinct value (answers borrow from the files:
/// nothing is allocated per row).
fn per_value<T: Copy>(array: &ArrayRef, mut look: impl FnMut(&str) -> Option<T>) -> Result<Vec<Option<T>>> {
    let mut seen: HashMap<&str, Option<T>> = HashMap::new();
    Ok(strings(array)?.map(|v| v.and_then(|v| *seen.entry(v).or_insert_with(|| look(v)))).collect())
}

/// A struct column of `columns`, NULL where `present` is false.
fn struct_column(fields: Fields, columns: Vec<ArrayRef>, present: Vec<bool>) -> Result<ArrayRef> {
    Ok(Arc::new(StructArray::try_new(fields, columns, Some(NullBuffer::from(present)))?))
}

fn geo_country(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(per_value(&args[0], |v| e.ip.geo(v).and_then(|g| g.country))?)))
}

fn geo_city(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(per_value(&args[0], |v| e.ip.geo(v).and_then(|g| g.city))?)))
}

fn location_fields() -> Fields {
    Fields::from(vec![Field::new("lat", DataType::Float64, true), Field::new("lon", DataType::Float64, true)])
}

fn geo_location(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let found = per_value(&args[0], |v| {
        let g = e.ip.geo(v)?;
        Some((g.latitude?, g.longitude?))
    })?;
    let lat = Float64Array::from(found.iter().map(|f| f.map(|f| f.0)).collect::<Vec<_>>());
    let lon = Float64Array::from(found.iter().map(|f| f.map(|f| f.1)).collect::<Vec<_>>());
    struct_column(location_fields(), vec![Arc::new(lat), Arc::new(lon)], found.iter().map(Option::is_some).collect())
}

fn asn(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(Int64Array::from(per_value(&args[0], |v| e.ip.asn(v).map(|a| i64::from(a.number)))?)))
}

fn asn_org(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(per_value(&args[0], |v| e.ip.asn(v).and_then(|a| a.organization))?)))
}

fn service_fields() -> Fields {
    Fields::from(vec![Field::new("service", DataType::Utf8, true), Field::new("region", DataType::Utf8, true)])
}

fn aws_service(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let found = per_value(&args[0], |v| e.ip.aws(v))?;
    let service = StringArray::from(found.iter().map(|f| f.map(|r| r.service)).collect::<Vec<_>>());
    let region = StringArray::from(found.iter().map(|f| f.map(|r| r.region)).collect::<Vec<_>>());
    struct_column(
        service_fields(),
        vec![Arc::new(service), Arc::new(region)],
        found.iter().map(Option::is_some).collect(),
    )
}

fn is_aws_ip(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(BooleanArray::from(per_value(&args[0], |v| e.ip.is_aws(v))?)))
}

fn account_name(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(Arc::new(StringArray::from(per_value(&args[0], |v| e.accounts.name(v))?)))
}

/// Great-circle distance between two addresses' places, in km (NULL when either is unknown).
fn geo_distance_km(e: &Enrichment, args: &[ArrayRef]) -> Result<ArrayRef> {
    let place = |ip: &str| {
        let g = e.ip.geo(ip)?;
        Some((g.latitude?, g.longitude?))
    };
    let a = per_value(&args[0], place)?;
    let b = per_value(&args[1], place)?;
    let km: Vec<Option<f64>> = a.into_iter().zip(b).map(|(a, b)| a.zip(b).map(|(a, b)| haversine_km(a, b))).collect();
    Ok(Arc::new(Float64Array::from(km)))
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
    Ok(Arc::new(Float64Array::from(vec![e.max_travel_kmh])))
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
