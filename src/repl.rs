//! The interactive prompt of `trailhouse sql`: statements end with `;` and may span
//! lines; history is kept across sessions; backslash commands describe the lake. Terminal
//! UI, so it lives in the binary; the statements run through `query::run`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use query::output::Format;
use query::run::run_script;
use query::{LakeSession, QueryError, Result, TableInfo, functions, views};
use rustyline::error::ReadlineError;

const HELP: &str = r"Statements end with ; and may span lines. Ctrl-C clears the statement, Ctrl-D or \q leaves.
  \d               list tables and views
  \d NAME          describe the columns of a table or view, with their types
  \df              list the functions trailhouse adds (Athena JSON, IP, ARN, principal)
  \timing [on|off] print how long each statement took
  \format FMT      output format: table, csv, json, ndjson
  \q               quit
Examples:
  SELECT eventname, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC LIMIT 10;
  SELECT * FROM actors ORDER BY events DESC LIMIT 10;
  EXPLAIN ANALYZE SELECT count(DISTINCT eventname) FROM cloudtrail WHERE eventdate = DATE '2026-11-02';";

/// REPL settings.
#[derive(Debug, Clone)]
pub struct ReplOptions {
    /// Where history is kept (none: not kept).
    pub history: Option<PathBuf>,
    pub format: Format,
    pub timing: bool,
}

impl Default for ReplOptions {
    fn default() -> Self {
        let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".trailhouse_history"));
        ReplOptions { history, format: Format::Table, timing: false }
    }
}

/// Runs the prompt until `\q` or end of input.
pub async fn run(session: &LakeSession, mut options: ReplOptions) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new().map_err(readline_err)?;
    if let Some(h) = &options.history {
        let _ = editor.load_history(h);
    }
    let mut out = std::io::stdout();
    let tables = session.tables().await?;
    println!("trailhouse SQL over {} ({}). \\? for help, \\q to quit.", session.lake().location(), summary(&tables));
    if session.is_empty().await? {
        println!("The lake is empty: fill it with `trailhouse ingest --source DIR|s3://...` or `trailhouse demo`.");
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "trailhouse> " } else { "         -> " };
        let line = match tokio::task::block_in_place(|| editor.readline(prompt)) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(readline_err(e)),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            if !meta(session, trimmed, &mut options).await {
                break;
            }
            continue;
        }
        if trimmed.is_empty() && buffer.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(sql.trim());
        let started = Instant::now();
        match run_script(session, &sql, options.format, &mut out).await {
            Ok(outcomes) => {
                for o in &outcomes {
                    if let Some(note) = &o.note {
                        println!("{note}");
                    }
                }
                if options.timing {
                    let rows: u64 = outcomes.iter().map(|o| o.rows).sum();
                    println!("{rows} rows in {:.3} s", started.elapsed().as_secs_f64());
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
        let _ = out.flush();
    }
    if let Some(h) = &options.history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

fn summary(tables: &[TableInfo]) -> String {
    tables.iter().map(|t| format!("{} v{}, {} files", t.name, t.version, t.files)).collect::<Vec<_>>().join("; ")
}

/// Handles a backslash command; false means quit.
async fn meta(session: &LakeSession, command: &str, options: &mut ReplOptions) -> bool {
    let mut words = command.split_whitespace();
    let name = words.next().unwrap_or_default();
    let arg = words.next();
    match (name, arg) {
        ("\\q", _) | ("\\quit", _) => return false,
        ("\\?", _) | ("\\h", _) | ("\\help", _) => println!("{HELP}"),
        ("\\d", None) => match session.tables().await {
            Ok(tables) => println!("{}", list_tables(&tables)),
            Err(e) => eprintln!("error: {e}"),
        },
        ("\\d", Some(table)) => match describe(session, table).await {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        },
        ("\\df", _) => {
            for (sig, what) in functions::catalog() {
                println!("  {sig:<48} {what}");
            }
        }
        ("\\timing", a) => {
            options.timing = match a {
                Some("on") => true,
                Some("off") => false,
                _ => !options.timing,
            };
            println!("Timing is {}.", if options.timing { "on" } else { "off" });
        }
        ("\\format", Some(f)) => match f.parse::<Format>() {
            Ok(Format::Parquet) => eprintln!(
                "error: parquet is binary; use `trailhouse sql --format parquet --output FILE` or COPY ... TO"
            ),
            Ok(fmt) => options.format = fmt,
            Err(e) => eprintln!("error: {e}"),
        },
        _ => eprintln!("unknown command {command}; \\? lists them"),
    }
    true
}

/// The `\d` listing: tables with version and files, then views with what they answer.
fn list_tables(tables: &[TableInfo]) -> String {
    let mut text = String::from("Tables:\n");
    for t in tables {
        text.push_str(&format!("  {:<16} Delta table, version {}, {} data files\n", t.name, t.version, t.files));
    }
    text.push_str("Views:\n");
    for (name, what, _) in views::VIEWS {
        text.push_str(&format!("  {name:<16} {what}\n"));
    }
    text
}

/// The `\d NAME` listing.
async fn describe(session: &LakeSession, table: &str) -> Result<String> {
    let columns = session.describe(table).await?;
    let width = columns.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    Ok(columns.iter().map(|(c, t)| format!("  {c:<width$}  {t}")).collect::<Vec<_>>().join("\n"))
}

fn readline_err(e: ReadlineError) -> QueryError {
    QueryError::Io { context: "the prompt".into(), cause: std::io::Error::other(e.to_string()) }
}
