//! Writing a parsed simd-json tape subtree back out as compact JSON text.

use simd_json::{Node, StaticNode};

/// The number of tape nodes the value starting at `tape[idx]` spans.
#[inline]
pub fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            use std::fmt::Write;
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a JSON scalar. Floats always carry a `.` or an exponent so that they parse
/// back as floats, not integers.
pub fn write_static(out: &mut String, v: &StaticNode) {
    use std::fmt::Write;
    match v {
        StaticNode::Null => out.push_str("null"),
        StaticNode::Bool(true) => out.push_str("true"),
        StaticNode::Bool(false) => out.push_str("false"),
        StaticNode::I64(n) => {
            let _ = write!(out, "{n}");
        }
        StaticNode::U64(n) => {
            let _ = write!(out, "{n}");
        }
        StaticNode::F64(x) => {
            let start = out.len();
            let _ = write!(out, "{x:?}");
            if !out[start..].contains(['.', 'e', 'E']) {
                out.push_str(".0");
            }
        }
    }
}

/// Appends the value at `tape[idx]` as compact JSON; returns the index after it.
pub fn write_value(out: &mut String, tape: &[Node<'_>], idx: usize) -> usize {
    match tape[idx] {
        Node::String(s) => {
            write_str(out, s);
            idx + 1
        }
        Node::Static(ref v) => {
            write_static(out, v);
            idx + 1
        }
        Node::Object { len, .. } => {
            out.push('{');
            let mut i = idx + 1;
            for n in 0..len {
                if n > 0 {
                    out.push(',');
                }
                if let Node::String(k) = tape[i] {
                    write_str(out, k);
                }
                out.push(':');
                i = write_value(out, tape, i + 1);
            }
            out.push('}');
            i
        }
        Node::Array { len, .. } => {
            out.push('[');
            let mut i = idx + 1;
            for n in 0..len {
                if n > 0 {
                    out.push(',');
                }
                i = write_value(out, tape, i);
            }
            out.push(']');
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(src: &str) -> String {
        let mut buf = src.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut buf).unwrap();
        let mut out = String::new();
        let end = write_value(&mut out, &tape.0, 0);
        assert_eq!(end, tape.0.len());
        out
    }

    #[test]
    fn compact_json_parses_back_to_the_same_value() {
        for src in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x\"y\\z\n\u0001"},"e":-5,"f":1.5}"#,
            r#"[1.0,2e300,-0.0,18446744073709551615,{}]"#,
            r#""plain""#,
            r#"{"k":"ünïcödé ✓","empty":[],"o":{}}"#,
        ] {
            let out = roundtrip(src);
            let a: serde_json::Value = serde_json::from_str(src).unwrap();
            let b: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(a, b, "{src} -> {out}");
        }
    }

    #[test]
    fn integral_floats_stay_floats() {
        assert_eq!(roundtrip("[1.0]"), "[1.0]");
    }
}
