//! Arrow builders fed straight from simd-json's tape: one builder tree per batch, derived
//! from [`lake::schema`], reused across files and batches (no per-event allocation once
//! warm).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, ListArray, NullBufferBuilder, RecordBatch, StringBuilder, StructArray,
    TimestampMicrosecondBuilder,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{FieldRef, Fields};
use simd_json::{Node, StaticNode};

use super::json_text::{OpenContainers, span, write_str, write_value_with};
use lake::schema::{self, FieldSpec, Kind};
use lake::time;

/// One step of the path to the value being appended.
#[derive(Clone, Copy)]
enum Seg {
    Field(&'static str),
    Index(usize),
}

/// Collects the parts of an event that the typed columns cannot reproduce, as a JSON list
/// of `[json-pointer, original value]` pairs. The path is kept as a stack of segments and
/// spelled out only when something is recorded (rarely).
#[derive(Default)]
struct Unmapped {
    path: Vec<Seg>,
    /// The patch list being built for the current row (empty when nothing to record).
    patch: String,
    /// The last timestamp appended, read back by the root for `eventdate`.
    last_time: Option<i64>,
    /// Reused buffer for values written as JSON text.
    scratch: String,
    /// Reused buffer for the pointer being recorded.
    pointer: String,
    /// Reused stack for writing JSON values.
    open: OpenContainers,
}

fn push_pointer_segment(out: &mut String, seg: &str) {
    out.push('/');
    if !seg.bytes().any(|b| b == b'~' || b == b'/') {
        out.push_str(seg);
        return;
    }
    for c in seg.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

impl Unmapped {
    fn start_entry(&mut self, extra: Option<&str>) {
        use std::fmt::Write;
        self.pointer.clear();
        for seg in &self.path {
            match *seg {
                Seg::Field(f) => push_pointer_segment(&mut self.pointer, f),
                Seg::Index(i) => {
                    let _ = write!(self.pointer, "/{i}");
                }
            }
        }
        if let Some(k) = extra {
            push_pointer_segment(&mut self.pointer, k);
        }
        self.patch.push(if self.patch.is_empty() { '[' } else { ',' });
        self.patch.push('[');
        write_str(&mut self.patch, &self.pointer);
        self.patch.push(',');
    }

    /// Records the original value at the current path.
    fn record(&mut self, tape: &[Node<'_>], idx: usize) {
        self.start_entry(None);
        write_value_with(&mut self.patch, tape, idx, &mut self.open);
        self.patch.push(']');
    }

    /// Records an unknown key (with its value) below the current path.
    fn record_key(&mut self, key: &str, tape: &[Node<'_>], idx: usize) {
        self.start_entry(Some(key));
        write_value_with(&mut self.patch, tape, idx, &mut self.open);
        self.patch.push(']');
    }
}

/// One column's builder, with the nulls appended to it but not yet written.
///
/// Most columns of most events are absent (a CloudTrail event fills a fraction of the
/// schema's ~70 leaves), and a null costs a validity bit and an offset per leaf. Nulls
/// are counted, and written as one run just before the next value (or at the end of
/// the batch): an absent struct then costs one increment, not one append per leaf.
struct Column {
    nulls: usize,
    builder: Builder,
}

enum Builder {
    Str(StringBuilder),
    Json(StringBuilder),
    Bool(BooleanBuilder),
    Time(TimestampMicrosecondBuilder),
    Struct(StructNode),
    List(Box<ListNode>),
}

struct StructNode {
    specs: &'static [FieldSpec],
    fields: Fields,
    children: Vec<Column>,
    validity: NullBufferBuilder,
    /// Per field: tape index of its value in the object being appended (usize::MAX: absent).
    slots: Vec<usize>,
    /// The field index after the last key matched: CloudTrail keeps key order, so this
    /// is nearly always the next key.
    hint: usize,
}

struct ListNode {
    field: FieldRef,
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
    child: StructNode,
}

const ABSENT: usize = usize::MAX;

fn time_builder(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

impl Column {
    fn new(spec: &'static FieldSpec, capacity: usize) -> Self {
        Column { nulls: 0, builder: Builder::new(spec, capacity) }
    }

    /// Appends a null (written with the next value or at [`finish`](Self::finish)).
    #[inline]
    fn append_null(&mut self) {
        self.nulls += 1;
    }

    /// Writes the counted nulls into the builder.
    #[inline]
    fn write_nulls(&mut self) {
        if self.nulls > 0 {
            let n = std::mem::take(&mut self.nulls);
            self.builder.append_nulls(n);
        }
    }

    /// Appends the value at `tape[idx]`; `un.path` points at it.
    fn append(&mut self, tape: &[Node<'_>], idx: usize, un: &mut Unmapped) {
        if let Node::Static(StaticNode::Null) = tape[idx] {
            // An explicit null: the column is null, and the patch says the key was there.
            self.append_null();
            un.record(tape, idx);
            return;
        }
        self.write_nulls();
        self.builder.append(tape, idx, un);
    }

    fn finish(&mut self) -> ArrayRef {
        self.write_nulls();
        self.builder.finish()
    }
}

impl Builder {
    fn new(spec: &'static FieldSpec, capacity: usize) -> Self {
        match spec.kind {
            Kind::Str => Builder::Str(StringBuilder::with_capacity(capacity, capacity * 16)),
            Kind::Json => Builder::Json(StringBuilder::with_capacity(capacity, capacity * 64)),
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Time => Builder::Time(time_builder(capacity)),
            Kind::Struct(children) => Builder::Struct(StructNode::new(children, capacity)),
            Kind::ListOfStruct(children) => {
                let field = match schema::arrow_field(spec).data_type() {
                    arrow::datatypes::DataType::List(f) => f.clone(),
                    _ => unreachable!("ListOfStruct maps to a List type"),
                };
                Builder::List(Box::new(ListNode {
                    field,
                    offsets: vec![0],
                    validity: NullBufferBuilder::new(capacity),
                    child: StructNode::new(children, capacity),
                }))
            }
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            Builder::Str(b) | Builder::Json(b) => b.append_nulls(n),
            Builder::Bool(b) => b.append_nulls(n),
            Builder::Time(b) => b.append_nulls(n),
            Builder::Struct(s) => s.append_nulls(n),
            Builder::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                l.offsets.extend(std::iter::repeat_n(last, n));
                l.validity.append_n_nulls(n);
            }
        }
    }

    /// Appends the non-null value at `tape[idx]`; `un.path` points at it.
    fn append(&mut self, tape: &[Node<'_>], idx: usize, un: &mut Unmapped) {
        let node = &tape[idx];
        match self {
            Builder::Str(b) => match node {
                Node::String(s) => b.append_value(s),
                _ => {
                    // Keep the value, as text, and remember its original type.
                    let mut text = std::mem::take(&mut un.scratch);
                    text.clear();
                    write_value_with(&mut text, tape, idx, &mut un.open);
                    b.append_value(&text);
                    un.scratch = text;
                    un.record(tape, idx);
                }
            },
            Builder::Json(b) => {
                let mut text = std::mem::take(&mut un.scratch);
                text.clear();
                write_value_with(&mut text, tape, idx, &mut un.open);
                b.append_value(&text);
                un.scratch = text;
            }
            Builder::Bool(b) => match node {
                Node::Static(StaticNode::Bool(v)) => b.append_value(*v),
                Node::String("true") => {
                    b.append_value(true);
                    un.record(tape, idx);
                }
                Node::String("false") => {
                    b.append_value(false);
                    un.record(tape, idx);
                }
                _ => {
                    b.append_null();
                    un.record(tape, idx);
                }
            },
            Builder::Time(b) => {
                let parsed = match node {
                    Node::String(s) => match time::parse_canonical(s) {
                        Some(t) => Some(t),
                        None => {
                            un.record(tape, idx);
                            time::parse_lenient(s)
                        }
                    },
                    _ => {
                        un.record(tape, idx);
                        None
                    }
                };
                b.append_option(parsed);
                un.last_time = parsed;
            }
            Builder::Struct(s) => match node {
                Node::Object { .. } => s.append_object(tape, idx, un),
                _ => {
                    s.append_null();
                    un.record(tape, idx);
                }
            },
            Builder::List(l) => match *node {
                Node::Array { len, .. } => {
                    let mut i = idx + 1;
                    for n in 0..len {
                        un.path.push(Seg::Index(n));
                        if let Node::Object { .. } = tape[i] {
                            l.child.append_object(tape, i, un);
                        } else {
                            l.child.append_null();
                            un.record(tape, i);
                        }
                        un.path.pop();
                        i += span(&tape[i]);
                    }
                    let last = *l.offsets.last().unwrap_or(&0);
                    l.offsets.push(last + len as i32);
                    l.validity.append_non_null();
                }
                _ => {
                    self.append_nulls(1);
                    un.record(tape, idx);
                }
            },
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Str(b) | Builder::Json(b) => Arc::new(finish_strings(b)),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Struct(s) => Arc::new(s.finish()),
            Builder::List(l) => {
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let values = Arc::new(l.child.finish());
                Arc::new(ListArray::new(
                    l.field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    l.validity.finish(),
                ))
            }
        }
    }
}

/// Finishes a string builder, leaving it with room for a batch like this one: Arrow's
/// `finish` hands the buffers over and starts again from empty, and regrowing them by
/// doubling cost ~4% of the ingest's CPU in `realloc` copies.
fn finish_strings(b: &mut StringBuilder) -> arrow::array::StringArray {
    let (rows, bytes) = (b.offsets_slice().len() - 1, b.values_slice().len());
    let array = b.finish();
    *b = StringBuilder::with_capacity(rows, bytes + bytes / 8);
    array
}

/// `a == b` for object keys, without a call to `memcmp`: keys are short (CloudTrail's
/// are 3 to 30 bytes), so two overlapping word loads settle most of them.
#[inline(always)]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    fn word(s: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
    }
    fn half(s: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes"))
    }
    match n {
        0..4 => a == b,
        4..8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8) && a[8..n - 8] == b[8..n - 8],
    }
}

impl StructNode {
    fn new(specs: &'static [FieldSpec], capacity: usize) -> Self {
        StructNode {
            specs,
            fields: schema::struct_fields(specs),
            children: specs.iter().map(|s| Column::new(s, capacity)).collect(),
            validity: NullBufferBuilder::new(capacity),
            slots: vec![ABSENT; specs.len()],
            hint: 0,
        }
    }

    /// Finds a key's field, scanning forward from the field after the last match (keys
    /// come in CloudTrail's order, optional ones absent), then from the start.
    #[inline]
    fn lookup(&mut self, key: &str) -> Option<usize> {
        let n = self.specs.len();
        let start = self.hint.min(n);
        let i = (start..n).chain(0..start).find(|&i| same_key(self.specs[i].json, key))?;
        self.hint = i + 1;
        Some(i)
    }

    /// Sorts the object's keys into slots (unknown keys go to the patch; a repeated key:
    /// the last one wins, as in every common JSON reader).
    fn fill_slots(&mut self, tape: &[Node<'_>], idx: usize, un: &mut Unmapped) {
        self.slots.fill(ABSENT);
        self.hint = 0;
        let Node::Object { len, .. } = tape[idx] else { return };
        let mut i = idx + 1;
        for _ in 0..len {
            let Node::String(key) = tape[i] else { return };
            let v = i + 1;
            match self.lookup(key) {
                Some(f) => self.slots[f] = v,
                None => un.record_key(key, tape, v),
            }
            i = v + span(&tape[v]);
        }
    }

    fn append_children(&mut self, tape: &[Node<'_>], un: &mut Unmapped) {
        self.append_children_capturing(tape, un, ABSENT);
    }

    /// Appends every child; returns the timestamp parsed for child `capture`, if any.
    fn append_children_capturing(&mut self, tape: &[Node<'_>], un: &mut Unmapped, capture: usize) -> Option<i64> {
        let mut captured = None;
        for (f, child) in self.children.iter_mut().enumerate() {
            let v = self.slots[f];
            if v == ABSENT {
                child.append_null();
            } else {
                un.path.push(Seg::Field(self.specs[f].json));
                un.last_time = None;
                child.append(tape, v, un);
                if f == capture {
                    captured = un.last_time;
                }
                un.path.pop();
            }
        }
        captured
    }

    fn append_object(&mut self, tape: &[Node<'_>], idx: usize, un: &mut Unmapped) {
        // Nested objects reuse `slots` of their own node, so filling then appending is safe.
        self.fill_slots(tape, idx, un);
        self.append_children(tape, un);
        self.validity.append_non_null();
    }

    fn append_null(&mut self) {
        self.append_nulls(1);
    }

    /// `n` null structs: each child counts `n` more nulls.
    fn append_nulls(&mut self, n: usize) {
        for c in &mut self.children {
            c.nulls += n;
        }
        self.validity.append_n_nulls(n);
    }

    fn finish_children(&mut self) -> Vec<ArrayRef> {
        self.children.iter_mut().map(Column::finish).collect()
    }

    fn finish(&mut self) -> StructArray {
        let arrays = self.finish_children();
        StructArray::new(self.fields.clone(), arrays, self.validity.finish())
    }
}

/// Counts of what one batch builder took in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EventCounts {
    pub events: u64,
    /// Events whose `eventTime` is missing or unparseable (kept, `eventdate` null).
    pub bad_time: u64,
    /// `Records` entries that are not objects (kept, whole value in `unmapped`).
    pub not_object: u64,
}

/// Builds `cloudtrail` record batches from parsed events.
pub struct EventBatchBuilder {
    root: StructNode,
    event_time_field: usize,
    unmapped: StringBuilder,
    source: StringBuilder,
    event_date: Date32Builder,
    un: Unmapped,
    rows: usize,
    capacity: usize,
}

impl EventBatchBuilder {
    /// A builder sized for about `capacity` rows per batch.
    pub fn new(capacity: usize) -> Self {
        let event_time_field = schema::EVENT.iter().position(|s| s.column == schema::EVENT_TIME).unwrap_or(usize::MAX);
        EventBatchBuilder {
            root: StructNode::new(schema::EVENT, capacity),
            event_time_field,
            unmapped: StringBuilder::new(),
            source: StringBuilder::with_capacity(capacity, capacity * 100),
            event_date: Date32Builder::with_capacity(capacity),
            un: Unmapped::default(),
            rows: 0,
            capacity,
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The row count this builder was sized for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends one element of a file's `Records` array, found at `tape[idx]`.
    pub fn append_event(&mut self, tape: &[Node<'_>], idx: usize, source: &str, counts: &mut EventCounts) {
        self.un.path.clear();
        self.un.patch.clear();
        counts.events += 1;
        let mut event_time = None;
        if let Node::Object { .. } = tape[idx] {
            self.root.fill_slots(tape, idx, &mut self.un);
            event_time = self.root.append_children_capturing(tape, &mut self.un, self.event_time_field);
        } else {
            for c in &mut self.root.children {
                c.append_null();
            }
            self.un.record(tape, idx);
            counts.not_object += 1;
        }
        if event_time.is_none() {
            counts.bad_time += 1;
        }
        if self.un.patch.is_empty() {
            self.unmapped.append_null();
        } else {
            self.un.patch.push(']');
            self.unmapped.append_value(&self.un.patch);
        }
        self.source.append_value(source);
        self.event_date.append_option(event_time.map(time::day_of));
        self.rows += 1;
    }

    /// Finishes the rows appended so far into a batch and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let mut columns = self.root.finish_children();
        // The root struct's validity is meaningless (rows are never null); drop it.
        let _ = self.root.validity.finish();
        columns.push(Arc::new(finish_strings(&mut self.unmapped)));
        columns.push(Arc::new(finish_strings(&mut self.source)));
        columns.push(Arc::new(self.event_date.finish()));
        self.rows = 0;
        RecordBatch::try_new(schema::cloudtrail_schema(), columns)
            .expect("builder columns follow the schema they were derived from")
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn same_key_agrees_with_byte_equality_at_every_length_and_position() {
        for n in 0..40usize {
            let a: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            assert!(same_key(&a, &a.clone()), "{a}");
            for at in 0..n {
                let mut b = a.clone().into_bytes();
                b[at] = b'Z';
                let b = String::from_utf8(b).unwrap();
                assert!(!same_key(&a, &b), "{a} vs {b}");
            }
            assert!(!same_key(&a, &format!("{a}x")));
        }
    }
}
