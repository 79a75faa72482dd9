//! The hourly rollup: the events counted per hour and per the columns analysts group and
//! filter by, kept with the lake so the common questions ("who called what, how often,
//! from how many addresses, per hour or day") read thousands of rows instead of millions.
//!
//! One row per `eventdate` x `hour` x `recipientaccountid` x `awsregion` x `eventsource` x
//! `eventname` x `principal` (`useridentity.arn`) x `identity_type` (`useridentity.type`)
//! x `errorcode` x `readonly` x `ip_class` ([`ip_class`] of `sourceipaddress`), with the
//! event count, the first and last event time, and the distinct source addresses as a
//! mergeable [`Sketch`].
//!
//! **Kept in step with the events.** An ingest run builds its rollup rows from the batches
//! it writes ([`RollupBuilder`]) and writes them before its `cloudtrail` commit, which names
//! them; they are committed to the [`ROLLUPS_TABLE`] right after, and a run interrupted in
//! between is repaired like its ledger rows ([`crate::commit`]). Each rollup file records
//! in its `summarized_events` column (one value per file, so its Delta statistics carry
//! it) how many events it summarizes; a reader compares that, per day, with the
//! `cloudtrail` files' record counts from the same Delta logs ([`DayCounts`]) and uses the
//! rollup only for days where the two agree. So a rollup is never read ahead of or behind
//! the events it answers for, and checking costs no I/O beyond the logs already loaded.
//!
//! **Compaction folds it** ([`Lake::compact`]): a day's files become one, its rows merged by
//! key; a day whose counts disagree (a lake written before rollups existed, a run that
//! crashed before its repair) is rebuilt from the day's events.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Array, Int64Array, RecordBatch,
    StringArray, StringBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef, TimestampMicrosecondType};

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::schema;
use crate::sketch::{self, Sketch};

/// The hourly rollup table.
pub const ROLLUPS_TABLE: &str = "rollups";

/// The rollup's dimension columns that are also `cloudtrail` columns (same name, same
/// meaning), in the rollup's column order.
pub const SAME_NAME_DIMENSIONS: &[&str] =
    &["eventdate", "recipientaccountid", "awsregion", "eventsource", "eventname", "errorcode", "readonly"];
/// `date_trunc('hour', eventtime)`.
pub const HOUR: &str = "hour";
/// `useridentity.arn`.
pub const PRINCIPAL: &str = "principal";
/// `useridentity.type`.
pub const IDENTITY_TYPE: &str = "identity_type";
/// [`ip_class`] of `sourceipaddress`.
pub const IP_CLASS: &str = "ip_class";
/// The number of events a row summarizes.
pub const EVENTS: &str = "events";
/// The earliest `eventtime` among them.
pub const FIRST_SEEN: &str = "first_seen";
/// The latest `eventtime` among them.
pub const LAST_SEEN: &str = "last_seen";
/// Their distinct `sourceipaddress` values, as a [`Sketch`].
pub const SOURCE_IPS: &str = "source_ips";
/// The events the whole file summarizes (the same value on every row of a file).
pub const SUMMARIZED_EVENTS: &str = "summarized_events";

/// The rollup table's schema (partitioned by `eventdate`).
pub fn rollup_schema() -> SchemaRef {
    let ts = schema::timestamp_type();
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(HOUR, ts.clone(), true),
        s("recipientaccountid"),
        s("awsregion"),
        s("eventsource"),
        s("eventname"),
        s(PRINCIPAL),
        s(IDENTITY_TYPE),
        s("errorcode"),
        Field::new("readonly", DataType::Boolean, true),
        Field::new(IP_CLASS, DataType::Utf8, false),
        Field::new(EVENTS, DataType::Int64, false),
        Field::new(FIRST_SEEN, ts.clone(), true),
        Field::new(LAST_SEEN, ts, true),
        Field::new(SOURCE_IPS, DataType::Binary, false),
        Field::new(SUMMARIZED_EVENTS, DataType::Int64, false),
        Field::new(schema::EVENT_DATE, DataType::Date32, true),
    ]))
}

/// Rows a run's rollup builder holds before they are written out (and the builder starts
/// again): ~100 bytes each plus their distinct strings, so some 20-40 MB per ingest lane.
/// A generated 10M-event backfill in one commit held 8.7M rows, 7.4 GB, before this bound
/// (and before the keys were interned). The files written early are
/// committed with the run's others; compaction folds them.
pub const SPILL_ROWS: usize = 200_000;

/// The rollup's partition columns.
pub const ROLLUP_PARTITION_COLUMNS: &[&str] = &[schema::EVENT_DATE];

/// Where a request came from, by its `sourceIPAddress`: `aws` (an AWS service calling on
/// someone's behalf, `ec2.amazonaws.com`, `AWS Internal`), `private` (RFC 1918, loopback,
/// link-local, IPv6 unique-local: a VPC endpoint or on-premises), `public`, `other` (any
/// other text) or `none` (absent).
pub fn ip_class(source: Option<&str>) -> &'static str {
    let Some(s) = source.filter(|s| !s.is_empty()) else { return "none" };
    match s.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            if a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (a.octets()[0] == 100 && a.octets()[1] & 0xc0 == 64)
            {
                "private"
            } else {
                "public"
            }
        }
        Ok(std::net::IpAddr::V6(a)) => {
            if a.is_loopback() || a.is_unique_local() || a.is_unicast_link_local() {
                "private"
            } else if let Some(v4) = a.to_ipv4_mapped() {
                ip_class(Some(&v4.to_string()))
            } else {
                "public"
            }
        }
        Err(_) if s.ends_with(".amazonaws.com") || s == "AWS Internal" => "aws",
        Err(_) => "other",
    }
}

const IP_CLASSES: [&str; 5] = ["aws", "private", "public", "other", "none"];

fn ip_class_code(source: Option<&str>) -> u8 {
    let c = ip_class(source);
    IP_CLASSES.iter().position(|x| *x == c).unwrap_or(3) as u8
}

/// The rollup's string dimensions, in column order after `hour`.
const STRINGS: usize = 7;
/// The id of an absent string.
const NULL: u32 = u32::MAX;

/// The distinct values of one string column, each stored once (in one buffer) and named
/// by a dense id, so a rollup key is a few integers and a new key allocates nothing.
#[derive(Default)]
struct Interner {
    text: String,
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

fn slice<'a>(text: &'a str, ends: &[usize], id: u32) -> &'a str {
    let i = id as usize;
    &text[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
}

impl Interner {
    fn get(&self, id: u32) -> Option<&str> {
        (id != NULL).then(|| slice(&self.text, &self.ends, id))
    }

    fn id(&mut self, s: &str) -> u32 {
        let Interner { text, ends, table, hasher } = self;
        let h = hasher.hash_one(s);
        let eq = |id: &u32| slice(text, ends, *id) == s;
        match table.entry(h, eq, |id| hasher.hash_one(slice(text, ends, *id))) {
            hashbrown::hash_table::Entry::Occupied(o) => *o.get(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let id = ends.len() as u32;
                v.insert(id);
                text.push_str(s);
                ends.push(text.len());
                id
            }
        }
    }
}

/// A rollup row's dimensions, its strings as their [`Interner`] ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    date: Option<i32>,
    hour: Option<i64>,
    strings: [u32; STRINGS],
    readonly: Option<bool>,
    ip_class: u8,
}

/// A row's distinct source addresses: most rows see one, which needs no allocation.
#[derive(Debug, Clone, Default)]
enum Ips {
    #[default]
    None,
    One(u64),
    Many(Sketch),
}

impl Ips {
    fn insert(&mut self, h: u64) {
        match self {
            Ips::None => *self = Ips::One(h),
            Ips::One(x) if *x == h => {}
            _ => self.sketch().insert_hash(h),
        }
    }

    fn sketch(&mut self) -> &mut Sketch {
        match self {
            Ips::Many(s) => s,
            _ => {
                let mut s = Sketch::default();
                if let Ips::One(h) = self {
                    s.insert_hash(*h);
                }
                *self = Ips::Many(s);
                self.sketch()
            }
        }
    }

    fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), sketch::BadSketch> {
        match bytes {
            [sketch::SPARSE] => Ok(()),
            [sketch::SPARSE, h @ ..] if h.len() == 8 => {
                self.insert(u64::from_le_bytes(h.try_into().expect("8 bytes")));
                Ok(())
            }
            _ => self.sketch().merge_bytes(bytes),
        }
    }

    /// The stored form of the row's [`Sketch`].
    fn write(&self, out: &mut BinaryBuilder) {
        match self {
            Ips::None => out.append_value([sketch::SPARSE]),
            Ips::One(h) => {
                let mut b = [sketch::SPARSE; 9];
                b[1..].copy_from_slice(&h.to_le_bytes());
                out.append_value(b);
            }
            Ips::Many(s) => out.append_value(s.to_bytes()),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Agg {
    events: i64,
    first: Option<i64>,
    last: Option<i64>,
    ips: Ips,
}

impl Agg {
    fn absorb(&mut self, events: i64, first: Option<i64>, last: Option<i64>) {
        self.events += events;
        self.first = match (self.first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Rollup rows being built from batches of events (an ingest run's) or of rollup rows (a
/// fold), merged by key. A row costs its fixed-size key and aggregate (~100 bytes); each
/// distinct string is stored once.
#[derive(Default)]
pub struct RollupBuilder {
    strings: [Interner; STRINGS],
    keys: Vec<Key>,
    aggs: Vec<Agg>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    events: u64,
}

impl std::fmt::Debug for RollupBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollupBuilder").field("rows", &self.keys.len()).field("events", &self.events).finish()
    }
}

/// Interns one row's strings, reusing the previous row's id where the value repeats (the
/// account and region of a batch from one log file, runs of one service's calls).
struct Row<'a> {
    cols: &'a [StringArray; STRINGS],
    last: [Option<(&'a str, u32)>; STRINGS],
}

impl<'a> Row<'a> {
    fn new(cols: &'a [StringArray; STRINGS]) -> Row<'a> {
        Row { cols, last: [None; STRINGS] }
    }

    fn ids(&mut self, strings: &mut [Interner; STRINGS], r: usize) -> [u32; STRINGS] {
        std::array::from_fn(|c| {
            let col = &self.cols[c];
            if !col.is_valid(r) {
                return NULL;
            }
            let v = col.value(r);
            match self.last[c] {
                Some((prev, id)) if prev == v => id,
                _ => {
                    let id = strings[c].id(v);
                    self.last[c] = Some((v, id));
                    id
                }
            }
        })
    }
}

/// A string column of a batch, as Utf8 (other string types are cast).
fn strings(batch: &RecordBatch, path: &[&str]) -> Result<StringArray, String> {
    let mut col: ArrayRef =
        batch.column_by_name(path[0]).cloned().ok_or_else(|| format!("the batch has no column {}", path[0]))?;
    for field in &path[1..] {
        let s = col.as_struct_opt().ok_or_else(|| format!("{} is not a struct", path.join(".")))?;
        let child = s.column_by_name(field).cloned().ok_or_else(|| format!("no field {}", path.join(".")))?;
        // A struct's null rows hide whatever their children hold.
        col = match s.nulls() {
            Some(n) if n.null_count() > 0 => {
                arrow::compute::nullif(&child, &BooleanArray::new(!n.inner(), None)).map_err(|e| e.to_string())?
            }
            _ => child,
        };
    }
    let col = arrow::compute::cast(&col, &DataType::Utf8).map_err(|e| format!("{}: {e}", path.join(".")))?;
    Ok(col.as_string::<i32>().clone())
}

fn times(batch: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray, String> {
    let col = batch.column_by_name(name).ok_or_else(|| format!("the batch has no column {name}"))?;
    let col = arrow::compute::cast(col, &schema::timestamp_type()).map_err(|e| format!("{name}: {e}"))?;
    Ok(col.as_primitive::<TimestampMicrosecondType>().clone())
}

fn dates(batch: &RecordBatch) -> Result<Date32Array, String> {
    let col = batch.column_by_name(schema::EVENT_DATE).ok_or("the batch has no column eventdate")?;
    let col = arrow::compute::cast(col, &DataType::Date32).map_err(|e| format!("eventdate: {e}"))?;
    Ok(col.as_primitive::<Date32Type>().clone())
}

fn booleans(batch: &RecordBatch, name: &str) -> Result<BooleanArray, String> {
    let col = batch.column_by_name(name).ok_or_else(|| format!("the batch has no column {name}"))?;
    col.as_boolean_opt().cloned().ok_or_else(|| format!("{name} is not a boolean column"))
}

const HOUR_US: i64 = 3_600_000_000;

impl RollupBuilder {
    /// An empty rollup.
    pub fn new() -> RollupBuilder {
        RollupBuilder::default()
    }

    /// The events added so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The rollup rows so far.
    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn slot(&mut self, key: Key) -> &mut Agg {
        let RollupBuilder { keys, aggs, index, hasher, .. } = self;
        let h = hasher.hash_one(key);
        let eq = |i: &u32| keys[*i as usize] == key;
        match index.entry(h, eq, |i| hasher.hash_one(keys[*i as usize])) {
            hashbrown::hash_table::Entry::Occupied(o) => &mut aggs[*o.get() as usize],
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(keys.len() as u32);
                keys.push(key);
                aggs.push(Agg::default());
                aggs.last_mut().expect("just pushed")
            }
        }
    }

    /// Adds a batch of `cloudtrail` rows (the lake's schema; other columns are ignored).
    pub fn add_events(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let date = dates(batch)?;
        let time = times(batch, schema::EVENT_TIME)?;
        let cols = [
            strings(batch, &["recipientaccountid"])?,
            strings(batch, &["awsregion"])?,
            strings(batch, &["eventsource"])?,
            strings(batch, &["eventname"])?,
            strings(batch, &["useridentity", "arn"])?,
            strings(batch, &["useridentity", "type"])?,
            strings(batch, &["errorcode"])?,
        ];
        let readonly = booleans(batch, "readonly")?;
        let ip = strings(batch, &[schema::SOURCE_IP_ADDRESS])?;
        let mut row = Row::new(&cols);
        for r in 0..batch.num_rows() {
            let t = time.is_valid(r).then(|| time.value(r));
            let source = ip.is_valid(r).then(|| ip.value(r));
            let key = Key {
                date: date.is_valid(r).then(|| date.value(r)),
                hour: t.map(|t| t.div_euclid(HOUR_US) * HOUR_US),
                strings: row.ids(&mut self.strings, r),
                readonly: readonly.is_valid(r).then(|| readonly.value(r)),
                ip_class: ip_class_code(source),
            };
            let agg = self.slot(key);
            agg.absorb(1, t, t);
            if let Some(s) = source {
                agg.ips.insert(sketch::hash(s.as_bytes()));
            }
        }
        self.events += batch.num_rows() as u64;
        Ok(())
    }

    /// Adds a batch of rollup rows (the [`rollup_schema`]), merging rows with the same key.
    pub fn add_rollups(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let date = dates(batch)?;
        let hour = times(batch, HOUR)?;
        let names =
            ["recipientaccountid", "awsregion", "eventsource", "eventname", PRINCIPAL, IDENTITY_TYPE, "errorcode"];
        let cols: Vec<StringArray> = names.iter().map(|n| strings(batch, &[n])).collect::<Result<_, _>>()?;
        let cols: [StringArray; STRINGS] = cols.try_into().expect("one column per string dimension");
        let readonly = booleans(batch, "readonly")?;
        let class = strings(batch, &[IP_CLASS])?;
        let events = batch.column_by_name(EVENTS).and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>());
        let events = events.ok_or("the rollup batch has no Int64 events column")?.clone();
        let first = times(batch, FIRST_SEEN)?;
        let last = times(batch, LAST_SEEN)?;
        let ips = batch.column_by_name(SOURCE_IPS).and_then(|c| c.as_binary_opt::<i32>());
        let ips = ips.ok_or("the rollup batch has no binary source_ips column")?.clone();
        let mut row = Row::new(&cols);
        for r in 0..batch.num_rows() {
            let c = class.is_valid(r).then(|| class.value(r));
            let key = Key {
                date: date.is_valid(r).then(|| date.value(r)),
                hour: hour.is_valid(r).then(|| hour.value(r)),
                strings: row.ids(&mut self.strings, r),
                readonly: readonly.is_valid(r).then(|| readonly.value(r)),
                ip_class: c.and_then(|c| IP_CLASSES.iter().position(|x| *x == c)).unwrap_or(3) as u8,
            };
            let n = events.value(r);
            let agg = self.slot(key);
            agg.absorb(n, first.is_valid(r).then(|| first.value(r)), last.is_valid(r).then(|| last.value(r)));
            if ips.is_valid(r) {
                agg.ips.merge_bytes(ips.value(r)).map_err(|e| e.to_string())?;
            }
            self.events += n as u64;
        }
        Ok(())
    }

    /// The rows, one batch per event date (the partition; `None` for events without a
    /// time), each row's `summarized_events` the day's event count.
    pub fn finish(self) -> Vec<(Option<i32>, RecordBatch)> {
        let mut by_day: BTreeMap<Option<i32>, Vec<u32>> = BTreeMap::new();
        for (i, k) in self.keys.iter().enumerate() {
            by_day.entry(k.date).or_default().push(i as u32);
        }
        by_day.into_iter().map(|(day, rows)| (day, self.batch_of(day, &rows))).collect()
    }

    fn batch_of(&self, day: Option<i32>, rows: &[u32]) -> RecordBatch {
        let ts = || TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
        let (mut hour, mut first, mut last) = (ts(), ts(), ts());
        let mut strs: Vec<StringBuilder> = (0..STRINGS).map(|_| StringBuilder::new()).collect();
        let mut readonly = BooleanBuilder::with_capacity(rows.len());
        let mut class = StringBuilder::new();
        let mut ips = BinaryBuilder::new();
        let total: i64 = rows.iter().map(|&i| self.aggs[i as usize].events).sum();
        for &i in rows {
            let (key, agg) = (&self.keys[i as usize], &self.aggs[i as usize]);
            hour.append_option(key.hour);
            for (c, b) in strs.iter_mut().enumerate() {
                b.append_option(self.strings[c].get(key.strings[c]));
            }
            readonly.append_option(key.readonly);
            class.append_value(IP_CLASSES[key.ip_class as usize]);
            first.append_option(agg.first);
            last.append_option(agg.last);
            agg.ips.write(&mut ips);
        }
        let mut cols: Vec<ArrayRef> = vec![Arc::new(hour.finish())];
        cols.extend(strs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        cols.push(Arc::new(readonly.finish()));
        cols.push(Arc::new(class.finish()));
        cols.push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|&i| self.aggs[i as usize].events))));
        cols.push(Arc::new(first.finish()));
        cols.push(Arc::new(last.finish()));
        cols.push(Arc::new(ips.finish()));
        cols.push(Arc::new(Int64Array::from_value(total, rows.len())));
        cols.push(Arc::new(Date32Array::from(vec![day; rows.len()])));
        RecordBatch::try_new(rollup_schema(), cols).expect("rollup columns match the rollup schema")
    }
}

/// The SQL filter selecting one `eventdate` partition (`None`: events without a time).
pub fn day_predicate(day: Option<&str>) -> String {
    match day {
        Some(d) => format!("{} = DATE '{d}'", schema::EVENT_DATE),
        None => format!("{} IS NULL", schema::EVENT_DATE),
    }
}

/// Event counts per day (`eventdate` partition value as the log writes it; `None`: events
/// without a time), read from a Delta snapshot's file list without opening any file.
pub type DayCounts = BTreeMap<Option<String>, u64>;

#[cfg(feature = "delta")]
mod delta {
    use std::collections::HashMap;

    use deltalake::kernel::Add;
    use deltalake::kernel::scalars::ScalarExt;
    use deltalake::table::state::DeltaTableState;
    use deltalake::writer::{DeltaWriter, WriteMode};
    use indexmap::IndexMap;
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::{Lake, LakeError, Result};

    /// The `cloudtrail` events per day: the sum of its files' record counts.
    pub fn event_counts(state: &DeltaTableState) -> DayCounts {
        let mut out = DayCounts::new();
        for f in state.log_data().iter() {
            let day = f.partition_values_map().remove(schema::EVENT_DATE).flatten();
            *out.entry(day).or_default() += f.num_records().unwrap_or(0) as u64;
        }
        out
    }

    /// The events the rollup's files summarize per day (each file's `summarized_events`,
    /// from the statistics in the log). A file without that statistic counts as
    /// `u64::MAX`, so its day never matches.
    pub fn summarized_counts(state: &DeltaTableState) -> DayCounts {
        let mut out = DayCounts::new();
        for f in state.log_data().iter() {
            let day = f.partition_values_map().remove(schema::EVENT_DATE).flatten();
            let n = f
                .stats()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|s| s.get("maxValues")?.get(SUMMARIZED_EVENTS)?.as_u64())
                .unwrap_or(u64::MAX);
            let c = out.entry(day).or_default();
            *c = c.saturating_add(n);
        }
        out
    }

    /// The rollup as a reader of one `cloudtrail` version may use it: the rollup table at
    /// a version loaded before that one, and whether it summarizes exactly the events of
    /// every day (the same count per day, no day more or less).
    #[derive(Debug, Clone)]
    pub struct InStep {
        /// The rollup table.
        pub table: Arc<crate::LakeTable>,
        /// Days whose counts disagree (empty: the rollup answers for the whole table).
        pub days_out_of_step: Vec<Option<String>>,
        /// The rollup's rows (from its files' record counts).
        pub rows: u64,
        /// The events they summarize.
        pub events: u64,
    }

    impl InStep {
        /// Compares a rollup version with the `cloudtrail` version a reader opened.
        pub fn check(rollup: crate::LakeTable, cloudtrail: &DeltaTableState) -> InStep {
            let events = event_counts(cloudtrail);
            let summarized = summarized_counts(rollup.state());
            let mut out: Vec<Option<String>> =
                events.iter().filter(|(d, n)| summarized.get(*d) != Some(n)).map(|(d, _)| d.clone()).collect();
            out.extend(summarized.keys().filter(|d| !events.contains_key(*d)).cloned());
            let rows = rollup.state().log_data().iter().map(|f| f.num_records().unwrap_or(0) as u64).sum();
            let events = summarized.values().fold(0u64, |a, n| a.saturating_add(*n));
            InStep { table: Arc::new(rollup), days_out_of_step: out, rows, events }
        }

        /// Events per rollup row: how much less a query reads from the rollup.
        pub fn reduction(&self) -> f64 {
            self.events as f64 / self.rows.max(1) as f64
        }

        /// Whether the rollup answers for every day.
        pub fn whole(&self) -> bool {
            self.days_out_of_step.is_empty()
        }
    }

    impl Lake {
        /// Writes a run's rollup rows as files of the rollup table (one per day), not yet
        /// committed, with the ingest's cheaper settings ([`rollup_properties`]: compaction
        /// rewrites these files). The table is created on first use.
        pub async fn write_rollup(&self, rollup: RollupBuilder) -> Result<Vec<Add>> {
            self.write_rollup_with(rollup, rollup_properties(&self.options, false)).await
        }

        async fn write_rollup_with(&self, rollup: RollupBuilder, props: WriterProperties) -> Result<Vec<Add>> {
            if rollup.is_empty() {
                return Ok(vec![]);
            }
            let table = self.rollup_table().await?;
            let err = LakeError::delta(&self.location);
            let mut w = deltalake::writer::RecordBatchWriter::for_table(&table)
                .map_err(&err)?
                .with_writer_properties(props)
                .with_target_file_size(u64::MAX / 4);
            for (_, batch) in rollup.finish() {
                let date = batch.column_by_name(schema::EVENT_DATE).expect("the rollup has eventdate");
                let Some(value) = ScalarExt::from_array(date.as_ref(), 0) else { continue };
                let values = IndexMap::from([(schema::EVENT_DATE.to_string(), value)]);
                w.write_partition(batch, &values, WriteMode::Default).await.map_err(&err)?;
            }
            w.flush().await.map_err(&err)
        }

        /// Folds the rollup: each day held in several files becomes one file of merged rows,
        /// and each day whose rollup disagrees with the `cloudtrail` table's count is rebuilt
        /// from that day's events. One commit per day, marked as a fold (so the repair of
        /// interrupted runs knows every earlier run is in). A day that another writer
        /// changed meanwhile is left for the next compaction.
        pub async fn fold_rollups(&self) -> Result<FoldSummary> {
            let err = LakeError::delta(&self.location);
            let cloudtrail = self.table(crate::CLOUDTRAIL_TABLE).await?;
            let mut rollups = self.rollup_table().await?;
            let events = event_counts(cloudtrail.snapshot().map_err(&err)?);
            let summarized = summarized_counts(rollups.snapshot().map_err(&err)?);
            let mut files: BTreeMap<Option<String>, Vec<deltalake::kernel::Remove>> = BTreeMap::new();
            for f in rollups.snapshot().map_err(&err)?.log_data().iter() {
                let day = f.partition_values_map().remove(schema::EVENT_DATE).flatten();
                files.entry(day).or_default().push(f.remove_action(true));
            }
            let mut summary = FoldSummary::default();
            let days: std::collections::BTreeSet<Option<String>> =
                events.keys().chain(summarized.keys()).cloned().collect();
            for day in days {
                let old = files.remove(&day).unwrap_or_default();
                let in_step = events.get(&day) == summarized.get(&day);
                if in_step && old.len() <= 1 {
                    continue;
                }
                let predicate = day_predicate(day.as_deref());
                let mut builder = RollupBuilder::new();
                if in_step {
                    for b in crate::read_table(&rollups, &format!("SELECT * FROM t WHERE {predicate}")).await? {
                        builder.add_rollups(&b).map_err(|e| LakeError::state(&self.location, e))?;
                    }
                } else if events.contains_key(&day) {
                    let sql = format!(
                        "SELECT eventdate, eventtime, recipientaccountid, awsregion, eventsource, eventname, \
                         named_struct('arn', useridentity.arn, 'type', useridentity.type) AS useridentity, \
                         errorcode, readonly, sourceipaddress FROM t WHERE {predicate}"
                    );
                    for b in crate::read_table(&cloudtrail, &sql).await? {
                        builder.add_events(&b).map_err(|e| LakeError::state(&self.location, e))?;
                    }
                }
                let adds = self.write_rollup_with(builder, rollup_properties(&self.options, true)).await?;
                let mut actions: Vec<deltalake::kernel::Action> =
                    old.into_iter().map(deltalake::kernel::Action::Remove).collect();
                actions.extend(adds.into_iter().map(deltalake::kernel::Action::Add));
                let operation = deltalake::protocol::DeltaOperation::Write {
                    mode: deltalake::protocol::SaveMode::Overwrite,
                    partition_by: Some(vec![schema::EVENT_DATE.to_string()]),
                    predicate: Some(predicate.clone()),
                };
                let meta =
                    HashMap::from([(crate::commit::META_ROLLUP_FOLD.to_string(), serde_json::Value::Bool(true))]);
                let snapshot = rollups.snapshot().map_err(&err)?.clone();
                let done = deltalake::kernel::transaction::CommitBuilder::from(
                    deltalake::kernel::transaction::CommitProperties::default(),
                )
                .with_actions(actions)
                .with_app_metadata(meta)
                .build(Some(&snapshot), rollups.log_store(), operation)
                .await;
                match done {
                    Ok(_) if in_step => summary.days_folded += 1,
                    Ok(_) => summary.days_rebuilt += 1,
                    Err(e) => {
                        tracing::warn!(day = ?day, error = %e, "The rollup of this day changed while folding; the next compaction folds it.");
                    }
                }
                rollups.update_state().await.map_err(&err)?;
            }
            Ok(summary)
        }

        /// The rollup table, created when missing.
        pub async fn rollup_table(&self) -> Result<deltalake::DeltaTable> {
            self.ensure_table(ROLLUPS_TABLE, &rollup_schema(), ROLLUP_PARTITION_COLUMNS).await?;
            self.table(ROLLUPS_TABLE).await
        }
    }
}

/// The Parquet settings of the rollup's files. Every file keeps chunk statistics on
/// `summarized_events` (the reader's in-step check reads them from the Delta log) and no
/// dictionary on `source_ips` (sketches are nearly all distinct: a dictionary only hashes
/// them before falling back). Files written at ingest stop there: they live until the next
/// compaction, and page statistics on every column cost the lanes time. Folded files (what
/// queries read for the days compaction has seen) add page statistics on every column.
#[cfg(feature = "delta")]
pub fn rollup_properties(options: &crate::LakeOptions, folded: bool) -> parquet::file::properties::WriterProperties {
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    let mut props = options.small_table_properties().into_builder();
    if !folded {
        props = props
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_statistics_enabled(ColumnPath::from(SUMMARIZED_EVENTS), EnabledStatistics::Chunk);
    }
    props.set_column_dictionary_enabled(ColumnPath::from(SOURCE_IPS), false).build()
}

#[cfg(feature = "delta")]
pub use delta::{InStep, event_counts, summarized_counts};

/// What a fold of the rollup did.
#[cfg(feature = "delta")]
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct FoldSummary {
    /// Days whose several files were merged into one.
    pub days_folded: u64,
    /// Days rebuilt from their events (their counts disagreed with the events').
    pub days_rebuilt: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fall_into_classes() {
        assert_eq!(ip_class(Some("203.0.113.7")), "public");
        assert_eq!(ip_class(Some("10.1.2.3")), "private");
        assert_eq!(ip_class(Some("192.168.0.1")), "private");
        assert_eq!(ip_class(Some("fd00::1")), "private");
        assert_eq!(ip_class(Some("2001:db8::1")), "public");
        assert_eq!(ip_class(Some("ec2.amazonaws.com")), "aws");
        assert_eq!(ip_class(Some("AWS Internal")), "aws");
        assert_eq!(ip_class(Some("example.com")), "other");
        assert_eq!(ip_class(Some("")), "none");
        assert_eq!(ip_class(None), "none");
    }
}
