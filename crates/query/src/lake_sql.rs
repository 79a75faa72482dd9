//! CloudTrail Lake's SQL, read as this lake's: a query names its event data store by id
//! (`FROM 5e2676f8-9fce-46ef-8142-3e36a94e6691`, the id part of the store's ARN), which
//! DataFusion's parser cannot read (a number, then minus signs). [`event_data_store_ids`]
//! turns such an id after `FROM` or `JOIN` into [`VIEW`] before the statement is parsed:
//! the cloudtrail table with Lake's `eventjson` column (each event rebuilt as its JSON).
//! Its camelCase columns (`eventTime`, `userIdentity.arn`) already fold to the lake's, and
//! `element_at` on the JSON columns is [`crate::functions`]'.

use std::borrow::Cow;

/// The view a Lake query's event data store reads: the cloudtrail table and `eventjson`.
pub const VIEW: &str = "cloudtrail_lake";

/// The view's SQL: every column, and the event as JSON (only computed when selected).
pub fn view_sql() -> String {
    let columns: Vec<&str> = lake::schema::EVENT.iter().map(|f| f.column).chain([lake::schema::UNMAPPED]).collect();
    // Lake's checksum of its own copy of the event: no published algorithm, so none here.
    format!(
        "SELECT *, event_json({}) AS eventjson, CAST(NULL AS VARCHAR) AS eventjsonchecksum FROM cloudtrail",
        columns.join(", ")
    )
}

/// `sql` with every event data store id written after `FROM` or `JOIN` (outside quotes and
/// comments) replaced by [`VIEW`]; unchanged (borrowed) when it has none.
pub fn event_data_store_ids(sql: &str) -> Cow<'_, str> {
    let b = sql.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    // The last word outside quotes, and where the current word started.
    let mut last_word = String::new();
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                i += 1;
                last_word.clear();
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                if (last_word.eq_ignore_ascii_case("from") || last_word.eq_ignore_ascii_case("join"))
                    && let Some(len) = store_id_at(&b[start..])
                {
                    out.push_str(&sql[copied..start]);
                    out.push_str(VIEW);
                    copied = start + len;
                    i = start + len;
                    last_word.clear();
                    continue;
                }
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                last_word = sql[start..i].to_string();
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                i += 1;
                last_word.clear();
            }
        }
    }
    if copied == 0 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// The length of an event data store id (a UUID: 8-4-4-4-12 hex digits) at the start of
/// `b`, if one is there and ends a word.
fn store_id_at(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    for (n, group) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
        for _ in 0..group {
            if !b.get(i)?.is_ascii_hexdigit() {
                return None;
            }
            i += 1;
        }
    }
    match b.get(i) {
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' => None,
        _ => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::event_data_store_ids;

    #[test]
    fn an_event_data_store_id_after_from_or_join_names_the_cloudtrail_table() {
        assert_eq!(
            event_data_store_ids("SELECT count(*) FROM 5e2676f8-9fce-46ef-8142-3e36a94e6691 WHERE x = 1"),
            "SELECT count(*) FROM cloudtrail_lake WHERE x = 1"
        );
        assert_eq!(
            event_data_store_ids(
                "SELECT a.eventid FROM 5E2676F8-9FCE-46EF-8142-3E36A94E6691 a\nJOIN\n  37382170-182d-42ed-9df9-5aaf0b4b9511 b ON true"
            ),
            "SELECT a.eventid FROM cloudtrail_lake a\nJOIN\n  cloudtrail_lake b ON true"
        );
    }

    #[test]
    fn ids_in_strings_comments_and_other_places_are_left_alone() {
        for sql in [
            "SELECT '5e2676f8-9fce-46ef-8142-3e36a94e6691' FROM cloudtrail",
            "SELECT * FROM cloudtrail WHERE requestid = '5e2676f8-9fce-46ef-8142-3e36a94e6691'",
            "SELECT 1 -- FROM 5e2676f8-9fce-46ef-8142-3e36a94e6691\nFROM cloudtrail",
            "SELECT * FROM \"5e2676f8-9fce-46ef-8142-3e36a94e6691\"",
            "SELECT * FROM 5e2676f8-9fce-46ef-8142-3e36a94e6691x",
        ] {
            assert_eq!(event_data_store_ids(sql), sql);
        }
    }
}
