//! `from_iso8601_timestamp`: Athena's way to turn CloudTrail's text `eventtime` into a
//! timestamp. Here `eventtime` already is a timestamp, so a timestamp argument passes
//! through unchanged and old queries keep working.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Builder, TimestampMicrosecondBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ScalarUDF, Signature, Volatility};
use lake::time::{days_from_civil, parse_canonical, parse_lenient};

use super::{Udf, strings};

fn utc_micros() -> DataType {
    lake::schema::timestamp_type()
}

pub fn from_iso8601_timestamp() -> ScalarUDF {
    Udf::udf("from_iso8601_timestamp", Signature::any(1, Volatility::Immutable), utc_micros(), |args| {
        let a = &args[0];
        if matches!(a.data_type(), DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) {
            return Ok(cast(a, &utc_micros())?);
        }
        let mut out = TimestampMicrosecondBuilder::with_capacity(a.len()).with_timezone("UTC");
        for s in strings(a)? {
            out.append_option(s.and_then(parse));
        }
        Ok(Arc::new(out.finish()))
    })
}

/// ISO 8601 date-times (with or without fraction and zone; no zone means UTC) and plain
/// dates (midnight UTC).
pub(crate) fn parse(s: &str) -> Option<i64> {
    let s = s.trim();
    parse_canonical(s).or_else(|| parse_lenient(s)).or_else(|| {
        let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        use chrono::Datelike;
        Some(days_from_civil(i64::from(d.year()), d.month(), d.day()) * 86_400_000_000)
    })
}

/// Trino's `date_add(unit, n, timestamp)`.
pub fn date_add() -> ScalarUDF {
    Udf::udf("date_add", Signature::any(3, Volatility::Immutable), utc_micros(), |args| {
        let units: Vec<Option<String>> = strings(&args[0])?.map(|s| s.map(str::to_ascii_lowercase)).collect();
        let n = cast(&args[1], &DataType::Int64)?;
        let n = n.as_primitive::<Int64Type>();
        let t = cast(&args[2], &utc_micros())?;
        let t = t.as_primitive::<TimestampMicrosecondType>();
        let mut out = TimestampMicrosecondBuilder::with_capacity(t.len()).with_timezone("UTC");
        for (i, unit) in units.iter().enumerate().take(t.len()) {
            let (Some(unit), false, false) = (unit, n.is_null(i), t.is_null(i)) else {
                out.append_null();
                continue;
            };
            out.append_option(add(unit, n.value(i), t.value(i))?);
        }
        Ok(Arc::new(out.finish()))
    })
}

/// Trino's `date_diff(unit, t1, t2)`: whole units from `t1` to `t2`.
pub fn date_diff() -> ScalarUDF {
    Udf::udf("date_diff", Signature::any(3, Volatility::Immutable), DataType::Int64, |args| {
        let units: Vec<Option<String>> = strings(&args[0])?.map(|s| s.map(str::to_ascii_lowercase)).collect();
        let a = cast(&args[1], &utc_micros())?;
        let b = cast(&args[2], &utc_micros())?;
        let (a, b) = (a.as_primitive::<TimestampMicrosecondType>(), b.as_primitive::<TimestampMicrosecondType>());
        let mut out = Int64Builder::with_capacity(a.len());
        for (i, unit) in units.iter().enumerate().take(a.len()) {
            let (Some(unit), false, false) = (unit, a.is_null(i), b.is_null(i)) else {
                out.append_null();
                continue;
            };
            let d = b.value(i) - a.value(i);
            let v = match unit.as_str() {
                "month" | "quarter" | "year" => {
                    let months = |m: i64| {
                        let t = chrono::DateTime::from_timestamp_micros(m).unwrap_or_default();
                        use chrono::Datelike;
                        i64::from(t.year()) * 12 + i64::from(t.month0())
                    };
                    let m = months(b.value(i)) - months(a.value(i));
                    match unit.as_str() {
                        "month" => m,
                        "quarter" => m / 3,
                        _ => m / 12,
                    }
                }
                u => d / unit_micros(u)?,
            };
            out.append_value(v);
        }
        Ok(Arc::new(out.finish()))
    })
}

fn unit_micros(unit: &str) -> Result<i64> {
    Ok(match unit {
        "millisecond" => 1_000,
        "second" => 1_000_000,
        "minute" => 60_000_000,
        "hour" => 3_600_000_000,
        "day" => 86_400_000_000,
        "week" => 7 * 86_400_000_000,
        other => {
            return exec_err!("unknown unit {other:?}: use second, minute, hour, day, week, month, quarter or year");
        }
    })
}

fn add(unit: &str, n: i64, t: i64) -> Result<Option<i64>> {
    let months = match unit {
        "month" => n,
        "quarter" => n * 3,
        "year" => n * 12,
        u => return Ok(n.checked_mul(unit_micros(u)?).and_then(|d| t.checked_add(d))),
    };
    let Some(dt) = chrono::DateTime::from_timestamp_micros(t) else { return Ok(None) };
    let shifted = if months >= 0 {
        dt.checked_add_months(chrono::Months::new(u32::try_from(months).unwrap_or(u32::MAX)))
    } else {
        dt.checked_sub_months(chrono::Months::new(u32::try_from(-months).unwrap_or(u32::MAX)))
    };
    Ok(shifted.map(|d| d.timestamp_micros()))
}
