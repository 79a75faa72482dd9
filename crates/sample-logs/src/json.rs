//! The text of a CloudTrail record: a tiny JSON writer that keeps keys in the order they
//! are written (CloudTrail's order), and CloudTrail's timestamps.

/// A tiny JSON writer appending to a `String`: keys in the order CloudTrail writes them.
pub(crate) struct Json<'a> {
    out: &'a mut String,
    /// Per open object/array: no member written yet.
    first: Vec<bool>,
    /// A key was written; the next value follows it without a comma.
    pending: bool,
}

impl<'a> Json<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        Json { out, first: vec![], pending: false }
    }

    fn sep(&mut self) {
        if let Some(f) = self.first.last_mut() {
            if !*f {
                self.out.push(',');
            }
            *f = false;
        }
    }

    fn value_sep(&mut self) {
        if self.pending {
            self.pending = false;
        } else {
            self.sep();
        }
    }

    pub(crate) fn key(&mut self, k: &str) -> &mut Self {
        self.sep();
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
        self.pending = true;
        self
    }

    pub(crate) fn begin_obj(&mut self) {
        self.value_sep();
        self.out.push('{');
        self.first.push(true);
    }

    pub(crate) fn end_obj(&mut self) {
        self.out.push('}');
        self.first.pop();
    }

    pub(crate) fn begin_arr(&mut self) {
        self.value_sep();
        self.out.push('[');
        self.first.push(true);
    }

    pub(crate) fn end_arr(&mut self) {
        self.out.push(']');
        self.first.pop();
    }

    /// A string value.
    pub(crate) fn s(&mut self, v: &str) {
        self.value_sep();
        write_str(self.out, v);
    }

    /// A value already in JSON text (`null`, `true`, a number, an object).
    pub(crate) fn raw(&mut self, v: &str) {
        self.value_sep();
        self.out.push_str(v);
    }

    /// A key and a string value.
    pub(crate) fn ks(&mut self, k: &str, v: &str) {
        self.key(k).s(v);
    }

    /// A key and a value already in JSON text.
    pub(crate) fn kraw(&mut self, k: &str, v: &str) {
        self.key(k).raw(v);
    }
}

/// Appends `s` to `out` as a JSON string literal (quotes included). The generator's
/// strings hold no control characters, so serde_json's escaping is CloudTrail's.
fn write_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// A time (seconds since the epoch) as CloudTrail writes it: `2026-11-02T03:17:00Z`.
pub(crate) fn timestamp(secs: i64) -> String {
    lake::time::format_canonical(secs * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_separated_and_strings_escaped() {
        let mut out = String::new();
        let mut j = Json::new(&mut out);
        j.begin_obj();
        j.ks("a", "x\"y\n\u{1}");
        j.kraw("b", "null");
        j.key("c").begin_arr();
        j.begin_obj();
        j.end_obj();
        j.s("z");
        j.end_arr();
        j.end_obj();
        assert_eq!(out, r#"{"a":"x\"y\n\u0001","b":null,"c":[{},"z"]}"#);
    }

    #[test]
    fn timestamps_are_canonical() {
        assert_eq!(
            timestamp(lake::time::days_from_civil(2026, 11, 2) * 86_400 + 3 * 3600 + 17 * 60),
            "2026-11-02T03:17:00Z"
        );
    }
}
