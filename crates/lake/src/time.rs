//! Time, the workspace's one home for it: ISO 8601 timestamps as CloudTrail writes them
//! (`2023-07-10T12:40:03Z`) to and from microseconds since the Unix epoch, calendar days,
//! and the durations users type (`30s`, `15m`, `24h`, `7d`, `2w`).

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

/// The current time in microseconds since the epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Parses exactly the canonical form `YYYY-MM-DDTHH:MM:SSZ`; anything else is `None`.
/// Formatting the result with [`format_canonical`] gives back the same text.
#[inline]
pub fn parse_canonical(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(((days * 86_400) + i64::from(h * 3600 + mi * 60 + sec)) * 1_000_000)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses other ISO 8601 / RFC 3339 forms (fractions, offsets, no zone meaning UTC).
pub fn parse_lenient(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.fZ"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (sub-second digits are
/// written only when present).
pub fn format_canonical(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}Z")
    }
}

/// The day number (days since 1970-01-01) of a timestamp in microseconds.
pub fn day_of(micros: i64) -> i32 {
    micros.div_euclid(86_400_000_000) as i32
}

/// A duration such as `30s`, `15m`, `24h`, `7d`, `2w`, in microseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_times_round_trip() {
        for s in ["2023-07-10T12:40:03Z", "1970-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "1969-12-31T23:59:59Z"] {
            let t = parse_canonical(s).unwrap();
            assert_eq!(format_canonical(t), s);
            assert_eq!(Some(t), parse_lenient(s));
        }
    }

    #[test]
    fn non_canonical_forms_are_left_to_the_lenient_parser() {
        for s in ["2023-07-10T12:40:03.123Z", "2023-07-10T12:40:03+02:00", "2023-02-30T00:00:00Z", "x"] {
            assert_eq!(parse_canonical(s), None, "{s}");
        }
        assert_eq!(parse_lenient("2023-07-10T14:40:03+02:00"), parse_canonical("2023-07-10T12:40:03Z"));
        assert_eq!(parse_lenient("2023-07-10T12:40:03.5Z").map(|t| t % 1_000_000), Some(500_000));
        assert_eq!(parse_lenient("yesterday"), None);
    }

    #[test]
    fn durations_take_the_units_users_type() {
        for (s, secs) in
            [("30s", 30), ("15m", 900), ("15min", 900), ("24h", 86_400), ("7d", 604_800), ("2w", 1_209_600)]
        {
            assert_eq!(parse_duration(s), Some(secs * 1_000_000), "{s}");
        }
        for s in ["", "h", "10", "10y", "-5m", "99999999999999999999d"] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
    }

    #[test]
    fn day_numbers_match_the_calendar() {
        let t = parse_canonical("2023-07-10T00:00:01Z").unwrap();
        assert_eq!(civil_from_days(i64::from(day_of(t))), (2023, 7, 10));
        assert_eq!(day_of(-1), -1);
    }
}
