//! CloudTrail Lake's saved query results, read back as CloudTrail records.
//!
//! When a Lake query's results are saved to S3, CloudTrail writes
//! `.../CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<query id>/result_1.csv.gz ... result_N.csv.gz`
//! and a signed `result_sign.json` beside them. Each result file is gzip CSV: a first line
//! `# Execution Time: ... Query Statement: <the SQL>`, a header of the result's columns, then
//! RFC 4180 rows (CRLF). Lake writes maps and structs as `{key=value, ...}` text, which
//! cannot be read back into events; only a query that selected `eventJson` (the whole event
//! as CloudTrail wrote it; `SELECT *` includes it) carries events losslessly. [`records`]
//! turns such a file into the `{"Records":[...]}` document the decoder reads, and refuses,
//! with the reason, a file without that column.

use std::io::Read;

/// Why a result file cannot be read as events.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExportError {
    #[error("gzip data is corrupt or truncated: {0}")]
    Gzip(String),
    #[error("inflates beyond the limit of {limit} bytes (raise --max-inflated-mb)")]
    TooLarge { limit: usize },
    #[error("has no header line: not a CloudTrail Lake query result")]
    NoHeader,
    #[error(
        "has no eventJson column (its columns: {columns}). CloudTrail Lake writes maps and structs as \
         {{key=value}} text, which cannot be turned back into events: save the results of a query that \
         selects eventJson, e.g. SELECT eventJson FROM <event data store id> WHERE eventTime >= \
         '2025-01-01 00:00:00' AND eventTime < '2025-02-01 00:00:00'"
    )]
    NoEventJson { columns: String },
    #[error("row {row}: {message}")]
    Csv { row: u64, message: String },
    #[error("row {row}: the eventJson cell is not JSON: {message}")]
    NotJson { row: u64, message: String },
}

/// A result file read as CloudTrail records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records {
    /// `{"Records":[<each row's eventJson>,...]}`.
    pub document: Vec<u8>,
    /// Rows with an event.
    pub events: u64,
    /// Rows whose eventJson cell was empty (NULL), left out.
    pub empty: u64,
    /// The query that produced the file, from its first line.
    pub query: Option<String>,
}

/// Whether a file name is a query result file's (`result_<n>.csv.gz`).
pub fn is_result_file(name: &str) -> bool {
    name.strip_prefix("result_")
        .and_then(|rest| rest.strip_suffix(".csv.gz"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads one result file (its gzip bytes) as CloudTrail records.
pub fn records(gz: &[u8], max_inflated: usize) -> Result<Records, ExportError> {
    let mut csv_text = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .take(max_inflated as u64 + 1)
        .read_to_end(&mut csv_text)
        .map_err(|e| ExportError::Gzip(e.to_string()))?;
    if csv_text.len() > max_inflated {
        return Err(ExportError::TooLarge { limit: max_inflated });
    }
    // The first line says when and what was run; it is not CSV.
    let mut body = csv_text.as_slice();
    let mut query = None;
    if body.starts_with(b"#") {
        let end = body.iter().position(|&b| b == b'\n').map_or(body.len(), |i| i + 1);
        let line = String::from_utf8_lossy(&body[..end]);
        query = line.split_once("Query Statement:").map(|(_, q)| q.trim().to_string());
        body = &body[end..];
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(body);
    let headers = reader.byte_headers().map_err(|e| ExportError::Csv { row: 1, message: e.to_string() })?.clone();
    if headers.is_empty() || headers.iter().all(<[u8]>::is_empty) {
        return Err(ExportError::NoHeader);
    }
    let column = headers.iter().position(|h| h.trim_ascii().eq_ignore_ascii_case(b"eventjson")).ok_or_else(|| {
        ExportError::NoEventJson {
            columns: headers.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect::<Vec<_>>().join(", "),
        }
    })?;
    let mut document = Vec::with_capacity(csv_text.len());
    document.extend_from_slice(b"{\"Records\":[");
    let (mut events, mut empty) = (0, 0);
    let mut record = csv::ByteRecord::new();
    let mut row = 1;
    loop {
        row += 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ExportError::Csv { row, message: e.to_string() }),
        }
        let cell = record.get(column).unwrap_or_default().trim_ascii();
        if cell.is_empty() || cell == b"null" {
            empty += 1;
            continue;
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(cell)
            .map_err(|e| ExportError::NotJson { row, message: e.to_string() })?;
        if events > 0 {
            document.push(b',');
        }
        document.extend_from_slice(cell);
        events += 1;
    }
    document.extend_from_slice(b"]}");
    Ok(Records { document, events, empty, query })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn the_event_json_column_becomes_records_and_the_query_line_is_kept() {
        let text = "# Execution Time: 2025-01-02T03:04:05.123456Z Query Statement: SELECT eventTime, eventJson FROM \
                    37382170-182d-42ed-9df9-5aaf0b4b9511\r\n\
                    eventTime,eventJson\r\n\
                    2025-01-01 00:00:01.000,\"{\"\"eventName\"\":\"\"A, b\"\",\"\"n\"\":1}\"\r\n\
                    2025-01-01 00:00:02.000,\r\n\
                    2025-01-01 00:00:03.000,\"{\"\"eventName\"\":\"\"B\"\"}\"\r\n";
        let r = records(&gz(text), 1 << 20).unwrap();
        assert_eq!(
            String::from_utf8(r.document).unwrap(),
            r#"{"Records":[{"eventName":"A, b","n":1},{"eventName":"B"}]}"#
        );
        assert_eq!((r.events, r.empty), (2, 1));
        assert_eq!(r.query.as_deref(), Some("SELECT eventTime, eventJson FROM 37382170-182d-42ed-9df9-5aaf0b4b9511"));
    }

    #[test]
    fn a_result_without_event_json_is_refused_naming_its_columns() {
        // CloudTrail Lake's own result file (tests/cloudtrail-lake-result, Apache-2.0):
        // a SELECT * over an event data store of non-AWS events, no eventJson.
        let real = include_bytes!("../../../tests/cloudtrail-lake-result/result_1.csv.gz");
        let err = records(real, 1 << 20).unwrap_err();
        assert!(matches!(err, ExportError::NoEventJson { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("eventVersion, eventCategory"), "{message}");
        assert!(message.contains("SELECT eventJson FROM"), "{message}");
    }

    #[test]
    fn broken_input_is_refused_with_where() {
        assert!(matches!(records(b"\x1f\x8b\x08\x00garbage", 1 << 20), Err(ExportError::Gzip(_))));
        let err = records(&gz("eventJson\r\n{not json\r\n"), 1 << 20).unwrap_err();
        assert!(matches!(err, ExportError::NotJson { row: 2, .. }), "{err}");
        let err = records(&gz("a,eventJson\r\n1,{}\r\n1,{},extra\r\n"), 1 << 20).unwrap_err();
        assert!(matches!(err, ExportError::Csv { row: 3, .. }), "{err}");
        let big = format!("eventJson\r\n{}\r\n", "{}\r\n".repeat(1000));
        assert!(matches!(records(&gz(&big), 100), Err(ExportError::TooLarge { limit: 100 })));
    }

    #[test]
    fn only_result_n_csv_gz_names_are_result_files() {
        assert!(is_result_file("result_1.csv.gz"));
        assert!(is_result_file("result_12.csv.gz"));
        assert!(!is_result_file("result_.csv.gz"));
        assert!(!is_result_file("result_sign.json"));
        assert!(!is_result_file("result_1.csv"));
    }
}
