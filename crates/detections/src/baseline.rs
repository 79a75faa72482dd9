//! Baselines kept in the lake: what the stateful rules have seen (per key, first and last
//! seen), so an incremental run reads the facts and its own new rows instead of rescanning
//! a 90-day lookback.
//!
//! The lake's `baselines` table holds one row per (baseline, key) and run that saw it:
//! `baseline` (the definition's [`Baseline::id`]), `name`, `k0`..`k3` (the key columns in
//! the order of their names, as text), `first_seen`, `last_seen`. Appending the same fact
//! twice changes nothing (readers take the min and max), so a run that crashes after
//! writing its facts and before recording itself writes them again, harmlessly. One row
//! per baseline with no key is its marker: the facts are complete from then on.
//!
//! A run ([`crate::run::run`]) gives each rule a table per baseline:
//! - on an incremental run after the first, once the table has the baseline's marker: the
//!   stored facts (within the rule's lookback) merged with the same aggregate over the
//!   run's `events`, which is also what the run stores;
//! - otherwise (the first run, `--all`, `--since`, a rule new to the pack, a rule's test):
//!   the aggregate over the rule's `history`, stored (with the marker) when the run moves
//!   the watermark.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
pub use lake::BASELINES_TABLE;
use lake::schema::{EVENT_TIME, timestamp_type};
use lake::time::format_canonical;
use lake::{Lake, LakeTable, read_table};

use crate::error::{DetectError, Result};
use crate::rule::{Baseline, MAX_BASELINE_KEYS, Rule};

/// The name the stored facts are registered under in a run's session.
const STORED: &str = "__baselines";

/// The `baselines` table's columns.
pub fn schema() -> SchemaRef {
    let mut fields = vec![Field::new("baseline", DataType::Utf8, false), Field::new("name", DataType::Utf8, false)];
    fields.extend((0..MAX_BASELINE_KEYS).map(|i| Field::new(format!("k{i}"), DataType::Utf8, true)));
    fields.push(Field::new("first_seen", timestamp_type(), true));
    fields.push(Field::new("last_seen", timestamp_type(), true));
    Arc::new(Schema::new(fields))
}

/// SQL aggregating `b` over `source` (a table or view with the lake's columns): its key
/// columns as text, `first_seen` and `last_seen`. Rows with a null key are left out (an
/// equality join never matches them).
pub fn aggregate_sql(b: &Baseline, source: &str) -> String {
    let keys: Vec<&str> = b.keys.keys().map(String::as_str).collect();
    let exprs: Vec<String> = b.keys.iter().map(|(k, e)| format!("CAST({e} AS VARCHAR) AS {k}")).collect();
    let filter = b.filter.as_deref().map(|f| format!(" WHERE {f}")).unwrap_or_default();
    let not_null: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
    format!(
        "SELECT {keys}, min({EVENT_TIME}) AS first_seen, max({EVENT_TIME}) AS last_seen \
         FROM (SELECT {exprs}, {EVENT_TIME} FROM {source}{filter}) s WHERE {not_null} GROUP BY {keys}",
        keys = keys.join(", "),
        exprs = exprs.join(", "),
        not_null = not_null.join(" AND "),
    )
}

/// The baselines of one run: which the lake already keeps, the aggregates over the run's
/// rows, and the facts to append when the run is recorded.
#[derive(Default)]
pub struct Keeper {
    /// Baselines whose facts the lake holds (by id); empty when this run does not read
    /// stored facts.
    stored: HashSet<String>,
    /// Aggregates over `events` already registered this run (by id).
    fresh: HashSet<String>,
    /// Markers already queued this run (by id).
    marked: HashSet<String>,
    /// Aggregates learned from `history` this run, by (id, start of the lookback).
    learned: HashMap<(String, i64), (SchemaRef, Vec<RecordBatch>)>,
    store: bool,
    facts: Vec<RecordBatch>,
    now: i64,
}

impl Keeper {
    /// `read_stored`: the run covers exactly the rows committed since a recorded run, so
    /// stored facts plus its own rows are everything. `store`: the run will be recorded
    /// and move the watermark, so what it saw becomes facts.
    pub async fn open(lake: &Lake, ctx: &SessionContext, read_stored: bool, store: bool, now: i64) -> Result<Keeper> {
        let mut keeper = Keeper { store, now, ..Keeper::default() };
        if read_stored && let Some(table) = lake.try_table(BASELINES_TABLE).await? {
            for b in read_table(&table, "SELECT DISTINCT baseline FROM t WHERE k0 IS NULL").await? {
                let ids = cast(b.column(0), &DataType::Utf8)?;
                keeper.stored.extend(ids.as_string::<i32>().iter().flatten().map(String::from));
            }
            ctx.register_table(STORED, Arc::new(LakeTable::try_new(&table)?))?;
        }
        Ok(keeper)
    }

    /// A keeper that reads every baseline from `history` and stores nothing (a rule's
    /// tests, where the test's own history is the whole past).
    pub fn from_history() -> Keeper {
        Keeper::default()
    }

    /// Registers `rule`'s baselines in `ctx` under their names, for a run whose `history`
    /// view starts at `since` (microseconds).
    pub async fn register(&mut self, ctx: &SessionContext, rule: &Rule, since: i64) -> Result<()> {
        let sql_err = |e: datafusion::error::DataFusionError| DetectError::Sql {
            rule: rule.id.clone(),
            message: format!("baseline: {e}"),
        };
        for b in &rule.baselines {
            let id = b.id();
            ctx.deregister_table(b.name.as_str())?;
            if self.stored.contains(&id) {
                let fresh = format!("__fresh_{id}");
                if self.fresh.insert(id.clone()) {
                    let (schema, batches) = aggregate(ctx, b, "events").await.map_err(sql_err)?;
                    if self.store {
                        self.facts.extend(to_facts(b, &batches)?);
                    }
                    register_batches(ctx, &fresh, schema, batches)?;
                }
                let keys: Vec<&str> = b.keys.keys().map(String::as_str).collect();
                let stored_keys: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("k{i} AS {k}")).collect();
                let view = format!(
                    "CREATE OR REPLACE VIEW {name} AS SELECT {keys}, min(first_seen) AS first_seen, max(last_seen) AS last_seen \
                     FROM (SELECT {stored_keys}, first_seen, last_seen FROM {STORED} \
                           WHERE baseline = '{id}' AND k0 IS NOT NULL AND last_seen >= TIMESTAMP '{since}' \
                           UNION ALL SELECT {keys}, first_seen, last_seen FROM {fresh}) f GROUP BY {keys}",
                    name = b.name,
                    keys = keys.join(", "),
                    stored_keys = stored_keys.join(", "),
                    since = format_canonical(since),
                );
                ctx.sql(&view).await.map_err(sql_err)?;
            } else {
                // Rules that keep the same baseline over the same lookback (the accounts
                // seen, in four rules) learn it once per run, and store it once.
                let (schema, batches) = match self.learned.get(&(id.clone(), since)) {
                    Some(known) => known.clone(),
                    None => {
                        let learned = aggregate(ctx, b, "history").await.map_err(sql_err)?;
                        if self.store {
                            self.facts.extend(to_facts(b, &learned.1)?);
                            if self.marked.insert(id.clone()) {
                                self.facts.push(marker(b, self.now)?);
                            }
                        }
                        self.learned.insert((id.clone(), since), learned.clone());
                        learned
                    }
                };
                register_batches(ctx, &b.name, schema, batches)?;
            }
        }
        Ok(())
    }

    /// The facts to append when the run is recorded.
    pub fn into_facts(self) -> Vec<RecordBatch> {
        self.facts
    }
}

/// `b` aggregated over `source`, with its schema (there may be no batch).
async fn aggregate(
    ctx: &SessionContext,
    b: &Baseline,
    source: &str,
) -> datafusion::error::Result<(SchemaRef, Vec<RecordBatch>)> {
    let df = ctx.sql(&aggregate_sql(b, source)).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    Ok((schema, df.collect().await?))
}

fn register_batches(ctx: &SessionContext, name: &str, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    Ok(())
}

/// An aggregate of `b` as rows of the `baselines` table.
fn to_facts(b: &Baseline, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let n = batch.num_rows();
        let id = b.id();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![id.as_str(); n])),
            Arc::new(StringArray::from(vec![b.name.as_str(); n])),
        ];
        for i in 0..MAX_BASELINE_KEYS {
            columns.push(match b.keys.keys().nth(i) {
                Some(k) => cast(batch.column(batch.schema().index_of(k)?), &DataType::Utf8)?,
                None => new_null_array(&DataType::Utf8, n),
            });
        }
        for c in ["first_seen", "last_seen"] {
            columns.push(cast(batch.column(batch.schema().index_of(c)?), &timestamp_type())?);
        }
        out.push(RecordBatch::try_new(schema(), columns)?);
    }
    Ok(out)
}

/// The row saying `b`'s facts are complete from now on.
fn marker(b: &Baseline, now: i64) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(vec![b.id()])), Arc::new(StringArray::from(vec![b.name.as_str()]))];
    columns.extend((0..MAX_BASELINE_KEYS).map(|_| new_null_array(&DataType::Utf8, 1)));
    for _ in 0..2 {
        columns.push(Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")));
    }
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// How many files a baseline's partition of the `baselines` table may have before a
/// recorded run folds it (each run appends a file to each baseline it saw new keys for).
pub const FOLD_AFTER_FILES: usize = 24;

/// Rewrites each baseline whose partition of the `baselines` table has at least
/// `min_files` files as one row per key (one commit per baseline). Returns the rows of
/// those baselines before and after, or `None` when the lake has no such table.
pub async fn fold(lake: &Lake, min_files: usize) -> Result<Option<(usize, usize)>> {
    let Some(partitions) = lake.files_per_partition(BASELINES_TABLE).await? else { return Ok(None) };
    let keys: Vec<String> = (0..MAX_BASELINE_KEYS).map(|i| format!("k{i}")).collect();
    let (mut before, mut after) = (0, 0);
    // One snapshot serves every partition: folding one does not change the others.
    let Some(table) = lake.try_table(BASELINES_TABLE).await? else { return Ok(None) };
    for (folder, files) in partitions {
        let Some(id) = folder.strip_prefix("baseline=") else { continue };
        if files < min_files.max(1) || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let sql = format!(
            "SELECT baseline, min(name) AS name, {keys}, min(first_seen) AS first_seen, max(last_seen) AS last_seen, \
             sum(rows) AS rows FROM (SELECT *, 1 AS rows FROM t WHERE baseline = '{id}') f GROUP BY baseline, {keys}",
            keys = keys.join(", ")
        );
        let folded = read_table(&table, &sql).await?;
        before += folded
            .iter()
            .map(|b| cast(b.column(b.num_columns() - 1), &DataType::Int64))
            .collect::<std::result::Result<Vec<_>, _>>()?
            .iter()
            .map(|c| c.as_primitive::<arrow::datatypes::Int64Type>().iter().flatten().sum::<i64>() as usize)
            .sum::<usize>();
        let folded: Vec<RecordBatch> = folded.iter().map(conform).collect::<Result<_>>()?;
        after += folded.iter().map(RecordBatch::num_rows).sum::<usize>();
        lake.replace_where(BASELINES_TABLE, &format!("baseline = '{id}'"), folded).await?;
    }
    Ok(Some((before, after)))
}

/// `b`'s first columns with the `baselines` schema's types and nullability (a Delta round
/// trip may widen them).
fn conform(b: &RecordBatch) -> Result<RecordBatch> {
    let schema = schema();
    let columns = schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| Ok(cast(c, f.data_type())?))
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Appends a run's facts, partitioned by baseline, and folds the baselines that have
/// gathered [`FOLD_AFTER_FILES`] files (best effort: the facts are in either way).
pub async fn store(lake: &Lake, facts: Vec<RecordBatch>) -> Result<()> {
    if facts.is_empty() {
        return Ok(());
    }
    lake.append_partitioned(BASELINES_TABLE, &["baseline"], facts).await?;
    match fold(lake, FOLD_AFTER_FILES).await {
        Ok(Some((before, after))) if before > 0 => tracing::info!(before, after, "Baselines folded."),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "Could not fold the baselines table; a later run retries."),
    }
    Ok(())
}
