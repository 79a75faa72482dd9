//! Running statements for a person or a script: each statement of a text is planned,
//! streamed to the output in the chosen format, and says what it read ([`ReadStats`]: bytes,
//! files and row groups read and skipped, what Athena shows as "Data scanned");
//! `EXPLAIN ANALYZE` gets a line saying how many of the lake's files the scan skipped.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;

use crate::error::{QueryError, Result};
use crate::output::{Format, write_batches, write_stream_within};
use crate::session::LakeSession;

/// What one statement produced.
#[derive(Debug, Clone, Default)]
pub struct StatementOutcome {
    pub rows: u64,
    /// An extra line for the reader (file pruning after `EXPLAIN ANALYZE`).
    pub note: Option<String>,
    /// How long it took, planning included.
    pub elapsed: Duration,
    /// What it read.
    pub read: ReadStats,
}

impl StatementOutcome {
    /// The line under a result: `12 rows in 0.84 s; read 3.2 MB: 14 of 120 files (106
    /// skipped by partition values or statistics); row groups: 40 read, 35 skipped by
    /// statistics, 4 by bloom filters.`
    pub fn summary(&self) -> String {
        let r = &self.read;
        let mut line = format!(
            "{} row{} in {:.3} s; read {}",
            self.rows,
            if self.rows == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            megabytes(r.bytes_scanned)
        );
        if r.candidate_files > 0 {
            line += &format!(
                ": {} of {} files ({} skipped by partition values or statistics)",
                r.files,
                r.candidate_files,
                r.candidate_files.saturating_sub(r.files)
            );
        }
        let considered = r.row_groups_read + r.row_groups_pruned_statistics + r.row_groups_pruned_bloom;
        if considered > 0 {
            line += &format!(
                "; row groups: {} read, {} skipped by statistics, {} by bloom filters",
                r.row_groups_read, r.row_groups_pruned_statistics, r.row_groups_pruned_bloom
            );
        }
        if r.page_rows_pruned > 0 {
            line += &format!("; {} rows skipped by page indexes", r.page_rows_pruned);
        }
        if r.spilled_bytes > 0 {
            line += &format!("; spilled {} to disk (over the memory limit)", megabytes(r.spilled_bytes));
        }
        line + "."
    }
}

fn megabytes(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.1} KB", bytes as f64 / 1e3) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}

/// What a statement read from storage: its Parquet scans' metrics, and the lake's own
/// file selection for the `cloudtrail` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes the Parquet readers fetched (pages and footers).
    pub bytes_scanned: u64,
    /// `cloudtrail` files read, of the candidates (the version's, within its selection).
    pub files: usize,
    pub candidate_files: usize,
    /// Row groups read where statistics were checked, and those statistics or bloom
    /// filters (DataFusion's, and the lake's on struct fields) ruled out.
    pub row_groups_read: usize,
    pub row_groups_pruned_statistics: usize,
    pub row_groups_pruned_bloom: usize,
    /// Rows inside read row groups that page indexes ruled out.
    pub page_rows_pruned: usize,
    /// Bytes sorts, aggregations and joins wrote to disk to stay under the memory limit.
    pub spilled_bytes: u64,
}

impl ReadStats {
    /// Adds the metrics of `plan` and every plan under it (after it ran).
    fn add_plan(&mut self, plan: &Arc<dyn ExecutionPlan>) {
        if let Some(metrics) = plan.metrics() {
            let (mut stats_matched, mut bloom_pruned) = (0, 0);
            for m in metrics.iter() {
                match m.value() {
                    MetricValue::Count { name, count } if name == "bytes_scanned" => {
                        self.bytes_scanned += count.value() as u64
                    }
                    MetricValue::SpilledBytes(count) => self.spilled_bytes += count.value() as u64,
                    MetricValue::PruningMetrics { name, pruning_metrics: p } => match name.as_ref() {
                        "row_groups_pruned_statistics" => {
                            self.row_groups_pruned_statistics += p.pruned();
                            stats_matched += p.matched();
                        }
                        "row_groups_pruned_bloom_filter" => bloom_pruned += p.pruned(),
                        "page_index_rows_pruned" => self.page_rows_pruned += p.pruned(),
                        _ => {}
                    },
                    _ => {}
                }
            }
            self.row_groups_pruned_bloom += bloom_pruned;
            self.row_groups_read += stats_matched.saturating_sub(bloom_pruned);
        }
        for child in plan.children() {
            self.add_plan(child);
        }
    }

    fn add_scans(&mut self, scans: &[lake::ScanSummary]) {
        for s in scans {
            self.files += s.files;
            self.candidate_files += s.candidates;
            self.row_groups_pruned_bloom += s.row_groups_skipped;
        }
    }
}

/// Runs every `;`-separated statement of `sql`, writing each result to `out`.
pub async fn run_script(
    session: &LakeSession,
    sql: &str,
    format: Format,
    out: &mut (impl Write + Send),
) -> Result<Vec<StatementOutcome>> {
    run_script_within(session, sql, format, None, out).await
}

/// [`run_script`], with a [`Format::Table`] result wider than `width` columns printed
/// vertically instead (the prompt's `\x auto`).
pub async fn run_script_within(
    session: &LakeSession,
    sql: &str,
    format: Format,
    width: Option<usize>,
    out: &mut (impl Write + Send),
) -> Result<Vec<StatementOutcome>> {
    let statements = session.statements(sql)?;
    if statements.is_empty() {
        return Err(QueryError::Usage("no SQL statement given".into()));
    }
    let mut outcomes = Vec::with_capacity(statements.len());
    for statement in statements {
        let started = Instant::now();
        let explain_analyze = statement.to_string().to_ascii_uppercase().starts_with("EXPLAIN ANALYZE");
        session.take_scans(); // forget scans planned by earlier statements
        let df = session.plan(statement).await?;
        let df = crate::headers::readable(df).map_err(|e| session.explain(e))?;
        let outcome = if explain_analyze {
            let schema = df.schema().inner().clone();
            let batches: Vec<_> = df.collect().await.map_err(|e| session.explain(e))?;
            let rows = write_batches(schema, &batches, format, &mut *out)?;
            StatementOutcome { rows, note: session.pruning_note(), ..Default::default() }
        } else {
            let task = Arc::new(df.task_ctx());
            let plan = df.create_physical_plan().await.map_err(|e| session.explain(e))?;
            let stream =
                datafusion::physical_plan::execute_stream(plan.clone(), task).map_err(|e| session.explain(e))?;
            let rows = write_stream_within(stream, format, width, &mut *out).await.map_err(|e| match e {
                QueryError::DataFusion(d) => session.explain(d),
                other => other,
            })?;
            let mut read = ReadStats::default();
            read.add_plan(&plan);
            read.add_scans(&session.take_scans());
            StatementOutcome { rows, note: None, elapsed: Duration::ZERO, read }
        };
        outcomes.push(StatementOutcome { elapsed: started.elapsed(), ..outcome });
    }
    Ok(outcomes)
}
