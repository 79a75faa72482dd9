//! Who and where, from the process's [`enrich::installed`] files: `geo_country(ip)`,
//! `geo_city(ip)`, `geo_location(ip)` (a `{lat, lon}` struct), `asn(ip)`, `asn_org(ip)`,
//! `aws_service(ip)` (a `{service, region}` struct), `is_aws_ip(ip)` and
//! `account_name(id)`. Each answers NULL without its file, for a private or reserved
//! address, for a service's name (`AWS Internal`) and for what the file does not know.
//!
//! CloudTrail repeats a few addresses many times: each batch looks every distinct address
//! up once.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, StructArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::{Udf, strings};

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

pub fn geo_country() -> ScalarUDF {
    Udf::strings("geo_country", 1, DataType::Utf8, |args| {
        let ip = &enrich::installed().ip;
        Ok(text_column(per_value(&args[0], |v| ip.geo(v).and_then(|g| g.country).map(String::from))?))
    })
}

pub fn geo_city() -> ScalarUDF {
    Udf::strings("geo_city", 1, DataType::Utf8, |args| {
        let ip = &enrich::installed().ip;
        Ok(text_column(per_value(&args[0], |v| ip.geo(v).and_then(|g| g.city).map(String::from))?))
    })
}

fn location_fields() -> Fields {
    Fields::from(vec![Field::new("lat", DataType::Float64, true), Field::new("lon", DataType::Float64, true)])
}

pub fn geo_location() -> ScalarUDF {
    Udf::strings("geo_location", 1, DataType::Struct(location_fields()), |args| {
        let ip = &enrich::installed().ip;
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
    })
}

pub fn asn() -> ScalarUDF {
    Udf::strings("asn", 1, DataType::Int64, |args| {
        let ip = &enrich::installed().ip;
        let found = per_value(&args[0], |v| ip.asn(v).map(|a| i64::from(a.number)))?;
        let mut out = Int64Builder::with_capacity(found.len());
        for f in found {
            out.append_option(f);
        }
        Ok(Arc::new(out.finish()))
    })
}

pub fn asn_org() -> ScalarUDF {
    Udf::strings("asn_org", 1, DataType::Utf8, |args| {
        let ip = &enrich::installed().ip;
        Ok(text_column(per_value(&args[0], |v| ip.asn(v).and_then(|a| a.organization).map(String::from))?))
    })
}

fn service_fields() -> Fields {
    Fields::from(vec![Field::new("service", DataType::Utf8, true), Field::new("region", DataType::Utf8, true)])
}

pub fn aws_service() -> ScalarUDF {
    Udf::strings("aws_service", 1, DataType::Struct(service_fields()), |args| {
        let ip = &enrich::installed().ip;
        let found = per_value(&args[0], |v| ip.aws(v).map(|r| (r.service.to_string(), r.region.to_string())))?;
        let nulls = NullBuffer::from(found.iter().map(Option::is_some).collect::<Vec<_>>());
        let service = text_column(found.iter().map(|f| f.as_ref().map(|f| f.0.clone())).collect());
        let region = text_column(found.into_iter().map(|f| f.map(|f| f.1)).collect());
        Ok(Arc::new(StructArray::try_new(service_fields(), vec![service, region], Some(nulls))?))
    })
}

pub fn is_aws_ip() -> ScalarUDF {
    Udf::strings("is_aws_ip", 1, DataType::Boolean, |args| {
        let ip = &enrich::installed().ip;
        let found = per_value(&args[0], |v| ip.is_aws(v))?;
        let mut out = BooleanBuilder::with_capacity(found.len());
        for f in found {
            out.append_option(f);
        }
        Ok(Arc::new(out.finish()))
    })
}

pub fn account_name() -> ScalarUDF {
    Udf::strings("account_name", 1, DataType::Utf8, |args| {
        let accounts = &enrich::installed().accounts;
        Ok(text_column(per_value(&args[0], |v| accounts.name(v).map(String::from))?))
    })
}
