//! Query errors, worded for the person at the prompt: the closest real column for an
//! unknown one, the list of tables for an unknown table, the parser's own position for bad
//! SQL, never a backtrace.

use datafusion::common::utils::datafusion_strsim::levenshtein;
use datafusion::error::DataFusionError;

/// Errors from querying the lake.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error("table {table}: {cause}")]
    Table { table: &'static str, cause: Box<deltalake::DeltaTableError> },
    /// A statement that could not be planned or run, already explained.
    #[error("{0}")]
    Sql(String),
    #[error("query failed: {0}")]
    DataFusion(DataFusionError),
    #[error("cannot format the result: {0}")]
    Format(arrow::error::ArrowError),
    #[error("cannot write Parquet: {0}")]
    Parquet(parquet::errors::ParquetError),
    #[error("{context}: {cause}")]
    Io { context: String, cause: std::io::Error },
    #[error("{0}")]
    Usage(String),
    /// Storage that refused or could not be reached (no such bucket, access denied, no
    /// credentials), explained in one line.
    #[error("{0}")]
    Storage(lake::failure::Failure),
    /// An operator that could not get memory under the session's limit and could not
    /// spill ([`crate::memory`]).
    #[error(
        "the query needs more memory than {limit} ({detail}); raise the limit with --memory-limit \
         (or TRAILHOUSE_MEMORY_LIMIT; e.g. 8GiB, 75%), or read less: a WHERE on eventdate, fewer columns"
    )]
    MemoryLimit { limit: String, detail: String },
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;

// Conversions that keep the cause in the message and out of `source()`: each error prints
// its cause once, however it is printed (a `{}`, a chain walk, the console's JSON).
impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        QueryError::DataFusion(e)
    }
}

impl From<arrow::error::ArrowError> for QueryError {
    fn from(e: arrow::error::ArrowError) -> Self {
        QueryError::Format(e)
    }
}

impl From<parquet::errors::ParquetError> for QueryError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        QueryError::Parquet(e)
    }
}

impl QueryError {
    /// True when the error is a closed pipe (`... | head`): not worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            QueryError::Io { cause, .. } => cause.kind() == std::io::ErrorKind::BrokenPipe,
            QueryError::Format(arrow::error::ArrowError::IoError(_, e)) => e.kind() == std::io::ErrorKind::BrokenPipe,
            QueryError::Parquet(parquet::errors::ParquetError::External(e)) => {
                e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }
            _ => false,
        }
    }
}

/// The command that creates a table of the lake that is written on first use.
fn written_by(table: &str) -> Option<&'static str> {
    Some(match table {
        lake::ALERTS_TABLE | lake::RUNS_TABLE | lake::BASELINES_TABLE | lake::INCIDENTS_TABLE => "`trailhouse detect`",
        lake::INTEGRITY_TABLE => "`trailhouse ingest` (when it meets digest files)",
        lake::TRIAGE_TABLE => "the console (`trailhouse serve`), when an alert is triaged,",
        lake::EXCEPTIONS_TABLE => "`trailhouse exceptions add`",
        lake::DELIVERIES_TABLE => "`trailhouse detect` with destinations in its settings file",
        _ => return None,
    })
}

/// The message for `e`; `known` lists column paths and table names for suggestions.
pub(crate) fn friendly(e: &DataFusionError, known: &[String]) -> String {
    match e.find_root() {
        DataFusionError::SchemaError(schema_error, _)
            if matches!(**schema_error, datafusion::common::SchemaError::FieldNotFound { .. }) =>
        {
            let datafusion::common::SchemaError::FieldNotFound { field, .. } = &**schema_error else { unreachable!() };
            let name = field.flat_name();
            let mut msg = format!("unknown column {name}");
            if let Some(best) = closest(&name, known) {
                msg.push_str(&format!("; did you mean {best}?"));
            }
            msg.push_str(" (\\d cloudtrail lists the columns)");
            msg
        }
        DataFusionError::Plan(m) | DataFusionError::Internal(m) | DataFusionError::Execution(m)
            if m.starts_with("Field ") && m.ends_with(" not found in struct") =>
        {
            let name = m.trim_start_matches("Field ").trim_end_matches(" not found in struct");
            let mut msg = format!("unknown field {name}");
            let nested: Vec<String> = known.iter().filter(|k| k.contains('.')).cloned().collect();
            if let Some(best) = closest(name, &nested) {
                msg.push_str(&format!("; did you mean {best}?"));
            }
            msg.push_str(" (\\d cloudtrail lists the columns)");
            msg
        }
        DataFusionError::SQL(parser, _) => format!("SQL syntax error: {parser}").replace("sql parser error: ", ""),
        DataFusionError::Plan(m) if m.contains("not found") && m.starts_with("table '") => {
            let table = m.trim_start_matches("table '").split('\'').next().unwrap_or_default();
            let short = table.rsplit('.').next().unwrap_or(table);
            if let Some(writer) = written_by(short) {
                return format!("this lake has no {short} table yet: {writer} writes it");
            }
            let mut msg = format!("unknown table {short}");
            if let Some(best) = closest(short, known) {
                msg.push_str(&format!("; did you mean {best}?"));
            }
            msg.push_str(" (\\d lists the tables and views)");
            msg
        }
        root => {
            let text = root.to_string();
            // DataFusion prefixes errors with their class; the text after it is the message.
            let text = [
                "Error during planning: ",
                "Execution error: ",
                "This feature is not implemented: ",
                "External error: ",
            ]
            .iter()
            .fold(text, |t, p| t.strip_prefix(p).map(str::to_owned).unwrap_or(t));
            text.lines().next().unwrap_or_default().to_string()
                + &text
                    .lines()
                    .skip(1)
                    .filter(|l| !l.starts_with("Valid fields"))
                    .map(|l| format!("\n{l}"))
                    .collect::<String>()
        }
    }
}

/// The known name closest to `name` (by edit distance, ignoring case and a qualifier),
/// if it is close enough to be a plausible typo.
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let name = name.to_lowercase();
    let bare = name.rsplit('.').next().unwrap_or(&name).to_string();
    known
        .iter()
        .map(|k| {
            let leaf = k.rsplit('.').next().unwrap_or(k);
            let typo = levenshtein(&name, k).min(levenshtein(&bare, leaf) + usize::from(k.contains('.')));
            // A prefix of a long name ("sourceip") is as good as a one-letter typo.
            let prefix = if bare.len() >= 4 && leaf.starts_with(bare.as_str()) { 1 } else { usize::MAX };
            let d = typo.min(prefix);
            (d, k)
        })
        .filter(|(d, _)| *d <= (bare.len() / 3).max(2))
        .min_by_key(|(d, k)| (*d, k.len()))
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn closest_suggests_a_typo_fix_and_nested_paths() {
        let known: Vec<String> =
            ["eventname", "eventsource", "useridentity.username", "useridentity", "sourceipaddress"]
                .map(String::from)
                .to_vec();
        assert_eq!(closest("evntname", &known), Some("eventname"));
        assert_eq!(closest("usrname", &known), Some("useridentity.username"));
        assert_eq!(closest("sourceip", &known), Some("sourceipaddress"));
        assert_eq!(closest("completely_different", &known), None);
    }
}
