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

/// Bytes that a JSON string literal must escape: control characters, `"` and `\\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Appends `s` to `out` as a JSON string literal (quotes included).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    // Nearly every string needs no escape: copy it whole.
    if !bytes.iter().any(|&b| NEEDS_ESCAPE[b as usize]) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
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

/// Per open container while writing a value: (is an object, members left to write,
/// members written).
pub type OpenContainers = Vec<(bool, usize, usize)>;

/// Appends the value at `tape[idx]` as compact JSON; returns the index after it.
///
/// Iterative, with an explicit stack of open containers: hostile input nested a million
/// levels deep is written out like any other value instead of overflowing the stack.
pub fn write_value(out: &mut String, tape: &[Node<'_>], idx: usize) -> usize {
    write_value_with(out, tape, idx, &mut Vec::new())
}

/// [`write_value`] with a caller's stack, reused from one value to the next (a new one
/// is an allocation for every object written, several per event).
pub fn write_value_with(out: &mut String, tape: &[Node<'_>], idx: usize, open: &mut OpenContainers) -> usize {
    open.clear();
    let mut i = idx;
    loop {
        // Write one value at `i` (opening a container pushes it).
        match tape[i] {
            Node::String(s) => {
                write_str(out, s);
                i += 1;
            }
            Node::Static(ref v) => {
                write_static(out, v);
                i += 1;
            }
            Node::Object { len, .. } => {
                out.push('{');
                open.push((true, len, 0));
                i += 1;
            }
            Node::Array { len, .. } => {
                out.push('[');
                open.push((false, len, 0));
                i += 1;
            }
        }
        // Close finished containers; position at the next member of the innermost open one.
        loop {
            let Some(top) = open.last_mut() else { return i };
            if top.1 == 0 {
                out.push(if top.0 { '}' } else { ']' });
                open.pop();
                continue;
            }
            if top.2 > 0 {
                out.push(',');
            }
            top.1 -= 1;
            top.2 += 1;
            if top.0 {
                if let Node::String(k) = tape[i] {
                    write_str(out, k);
                }
                out.push(':');
                i += 1;
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(src: &str) -> String {
        let mut buf = src.as_bytes().to_vec();
        let mut buffers = simd_json::Buffers::with_max_depth(buf.len(), 2_000_000);
        let tape = simd_json::to_tape_with_buffers(&mut buf, &mut buffers).unwrap();
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
    fn a_million_levels_of_nesting_do_not_overflow_the_stack() {
        let depth = 1_000_000;
        let src = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(roundtrip(&src), src);
        let src = format!("{}null{}", r#"{"a":[1,"#.repeat(100_000), "]}".repeat(100_000));
        assert_eq!(roundtrip(&src), src);
    }

    #[test]
    fn integral_floats_stay_floats() {
        assert_eq!(roundtrip("[1.0]"), "[1.0]");
    }
}
