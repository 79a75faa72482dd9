//! Running statements for a person or a script: each statement of a text is planned,
//! streamed to the output in the chosen format, and `EXPLAIN ANALYZE` gets a line saying
//! how many of the lake's files the scan skipped.

use std::io::Write;

use crate::error::{QueryError, Result};
use crate::output::{Format, write_batches, write_stream};
use crate::session::LakeSession;

/// What one statement produced.
#[derive(Debug, Clone, Default)]
pub struct StatementOutcome {
    pub rows: u64,
    /// An extra line for the reader (file pruning after `EXPLAIN ANALYZE`).
    pub note: Option<String>,
}

/// Runs every `;`-separated statement of `sql`, writing each result to `out`.
pub async fn run_script(
    session: &LakeSession,
    sql: &str,
    format: Format,
    out: &mut (impl Write + Send),
) -> Result<Vec<StatementOutcome>> {
    let statements = session.statements(sql)?;
    if statements.is_empty() {
        return Err(QueryError::Usage("no SQL statement given".into()));
    }
    let mut outcomes = Vec::with_capacity(statements.len());
    for statement in statements {
        let explain_analyze = statement.to_string().to_ascii_uppercase().starts_with("EXPLAIN ANALYZE");
        let df = session.plan(statement).await?;
        let outcome = if explain_analyze {
            session.pruning_note(); // forget scans planned by earlier statements
            let schema = df.schema().inner().clone();
            let batches: Vec<_> = df.collect().await.map_err(|e| session.explain(e))?;
            let rows = write_batches(schema, &batches, format, &mut *out)?;
            StatementOutcome { rows, note: session.pruning_note() }
        } else {
            let stream = df.execute_stream().await.map_err(|e| session.explain(e))?;
            let rows = write_stream(stream, format, &mut *out).await.map_err(|e| match e {
                QueryError::DataFusion(d) => session.explain(d),
                other => other,
            })?;
            StatementOutcome { rows, note: None }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}
