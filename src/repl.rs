//! The interactive prompt of `trailhouse sql`: statements end with `;` and may span
//! lines; history is kept across sessions; backslash commands describe the lake. Terminal
//! UI, so it lives in the binary; the statements run through `query::run`.

use std::io::Write;
use std::path::PathBuf;

use query::output::Format;
use query::run::run_script_within;
use query::{LakeSession, QueryError, Result, TableInfo, functions, views};
use rustyline::error::ReadlineError;

use crate::signal::Interrupts;

const HELP: &str = r"Statements end with ; and may span lines. Ctrl-C clears what is typed, or cancels the
statement that is running; Ctrl-D or \q leaves.
  \d               list tables and views
  \d NAME          describe the columns of a table or view, with their types
  \df              list the functions trailhouse adds (Athena JSON, IP, ARN, principal)
  \stats [on|off]  the line under each result: rows, time, bytes, files and row groups
                   read and skipped (on by default; \timing is the same)
  \x [on|off|auto] vertical display (a line per column); auto: when a table is wider
                   than the terminal
  \format FMT      output format: table, vertical, csv, json, ndjson
  \saved [NAME]    the named queries of --queries DIR (or the text of one)
  \run NAME [k=v]  run a named query, e.g. \run top-errors since=7d
Tab completes table, view, column (useridentity.arn) and function names.
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
    /// A line under each result: rows, time, what it read.
    pub stats: bool,
    /// `\x`: when a table result is printed vertically.
    pub expanded: Expanded,
    /// The folder of named queries (`\saved`, `\run`).
    pub saved: Option<PathBuf>,
}

/// `\x`: when a table result is printed vertically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    Off,
    On,
    /// When it is wider than the terminal.
    Auto,
}

impl Default for ReplOptions {
    fn default() -> Self {
        // The XDG state directory: `$XDG_STATE_HOME/trailhouse/history`, else
        // `~/.local/state/trailhouse/history`.
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")));
        let history = state.map(|d| d.join("trailhouse").join("history"));
        ReplOptions { history, format: Format::Table, stats: true, expanded: Expanded::Off, saved: None }
    }
}

/// Runs the prompt until `\q` or end of input.
pub async fn run(session: &LakeSession, mut options: ReplOptions) -> Result<()> {
    let mut editor: rustyline::Editor<Completion, rustyline::history::DefaultHistory> =
        rustyline::Editor::new().map_err(readline_err)?;
    editor.set_helper(Some(Completion::of(session).await));
    if let Some(h) = &options.history {
        let _ = editor.load_history(h);
    }
    let mut out = std::io::stdout();
    let tables = session.tables().await?;
    println!("trailhouse SQL over {} ({}). \\? for help, \\q to quit.", session.lake().location(), summary(&tables));
    if session.is_empty().await? {
        println!("The lake is empty: fill it with `trailhouse ingest --source DIR|s3://...` or `trailhouse demo`.");
    }
    let mut interrupts = Interrupts::listen().map_err(|e| QueryError::Io { context: "Ctrl-C".into(), cause: e })?;
    let mut buffer = String::new();
    // Ctrl-C twice in a row at an empty prompt: someone trying to leave.
    let mut interrupted_empty = false;
    loop {
        let prompt = if buffer.is_empty() { "trailhouse> " } else { "         -> " };
        interrupts.forget();
        let read = tokio::task::block_in_place(|| editor.readline(prompt));
        let empty_interrupt = matches!(read, Err(ReadlineError::Interrupted)) && buffer.is_empty();
        interrupted_empty &= empty_interrupt;
        let line = match read {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                if empty_interrupt && interrupted_empty {
                    println!("(\\q or Ctrl-D leaves)");
                }
                interrupted_empty = empty_interrupt;
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(readline_err(e)),
        };
        let trimmed = line.trim();
        let sql = if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match meta(session, trimmed, &mut options).await {
                Meta::Done => continue,
                Meta::Quit => break,
                Meta::Run(sql) => sql,
            }
        } else {
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
            sql
        };
        // Ctrl-C while it runs drops the statement: its plan stops and frees its memory.
        // (While a line is read, the terminal is raw and Ctrl-C is a key, not a signal; one
        // that came since the line was read counts: interrupts are forgotten before it.)
        let (format, width) = match (options.format, options.expanded) {
            (Format::Table, Expanded::On) => (Format::Vertical, None),
            (Format::Table, Expanded::Auto) => {
                (Format::Table, editor.dimensions().map(|(columns, _)| usize::from(columns)))
            }
            (format, _) => (format, None),
        };
        let ran = tokio::select! {
            ran = run_script_within(session, &sql, format, width, &mut out) => ran,
            _ = interrupts.next() => {
                let _ = out.flush();
                println!("\nCancelled.");
                continue;
            }
        };
        match ran {
            Ok(outcomes) => {
                for o in &outcomes {
                    if let Some(note) = &o.note {
                        println!("{note}");
                    }
                }
                if options.stats {
                    for o in &outcomes {
                        println!("{}", o.summary());
                    }
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
        let _ = out.flush();
    }
    if let Some(h) = &options.history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(h);
    }
    Ok(())
}

fn summary(tables: &[TableInfo]) -> String {
    tables.iter().map(|t| format!("{} v{}, {} files", t.name, t.version, t.files)).collect::<Vec<_>>().join("; ")
}

/// What the prompt does after a backslash command.
enum Meta {
    Done,
    Quit,
    /// Run these statements (`\run`).
    Run(String),
}

/// Handles a backslash command.
async fn meta(session: &LakeSession, command: &str, options: &mut ReplOptions) -> Meta {
    let mut words = command.split_whitespace();
    let name = words.next().unwrap_or_default();
    let arg = words.next();
    match (name, arg) {
        ("\\q", _) | ("\\quit", _) => return Meta::Quit,
        ("\\saved", one) => match saved_folder(options) {
            Ok(folder) => match one {
                Some(name) => match query::saved::find(&folder.queries, name) {
                    Ok(q) => println!("{}", q.sql.trim_end()),
                    Err(e) => eprintln!("error: {e}"),
                },
                None => println!("{}", list_saved(&folder)),
            },
            Err(e) => eprintln!("error: {e}"),
        },
        ("\\run", None) => eprintln!("error: \\run needs a name, e.g. \\run top-errors since=7d (\\saved lists them)"),
        ("\\run", Some(name)) => {
            let bound = saved_folder(options).and_then(|folder| {
                let q = query::saved::find(&folder.queries, name)?;
                q.bind(&query::saved::parse_assignments(words)?)
            });
            match bound {
                Ok(sql) => return Meta::Run(sql),
                Err(e) => eprintln!("error: {e}"),
            }
        }
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
        ("\\stats", a) | ("\\timing", a) => {
            options.stats = match a {
                Some("on") => true,
                Some("off") => false,
                _ => !options.stats,
            };
            println!("The line under each result is {}.", if options.stats { "on" } else { "off" });
        }
        ("\\x", a) => {
            options.expanded = match a {
                Some("on") => Expanded::On,
                Some("off") => Expanded::Off,
                Some("auto") => Expanded::Auto,
                _ if options.expanded == Expanded::Off => Expanded::On,
                _ => Expanded::Off,
            };
            let what = match options.expanded {
                Expanded::On => "on",
                Expanded::Off => "off",
                Expanded::Auto => "auto (when a table is wider than the terminal)",
            };
            println!("Vertical display is {what}.");
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
    Meta::Done
}

/// The named queries, read afresh (an edited file counts at once); files that are not one
/// are warned about.
fn saved_folder(options: &ReplOptions) -> Result<query::saved::Folder> {
    let dir = options.saved.as_ref().ok_or_else(|| {
        QueryError::Usage(
            "no folder of named queries: start the prompt with --queries DIR (or TRAILHOUSE_QUERIES)".into(),
        )
    })?;
    let folder = query::saved::load(dir)?;
    for problem in &folder.problems {
        eprintln!("warning: left out {problem}");
    }
    Ok(folder)
}

/// The `\saved` listing: name, parameters (with defaults), what it answers.
fn list_saved(folder: &query::saved::Folder) -> String {
    if folder.queries.is_empty() {
        return "No named queries (.sql files) in the folder.".into();
    }
    let rows: Vec<(String, String, &str)> = folder
        .queries
        .iter()
        .map(|q| {
            let params: Vec<String> =
                q.params.iter().map(|p| format!("{}={}", p.name, p.default.as_deref().unwrap_or("?"))).collect();
            (q.name.clone(), params.join(" "), q.description.as_str())
        })
        .collect();
    let name_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let params_w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut text = String::from("Named queries (\\run NAME k=v runs one; ? marks a parameter without a default):\n");
    for (name, params, what) in rows {
        text.push_str(&format!("  {name:<name_w$}  {params:<params_w$}  {what}\n"));
    }
    text.trim_end().to_string()
}

/// The `\d` listing: tables with version and files, then views with what they answer.
fn list_tables(tables: &[TableInfo]) -> String {
    let mut text = String::from("Tables:\n");
    for t in tables {
        text.push_str(&format!("  {:<16} Delta table, version {}, {} data files\n", t.name, t.version, t.files));
    }
    text.push_str("Views:\n");
    for (name, what, _) in views::VIEWS.iter() {
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

/// Tab completion at the prompt: the lake's tables, the views, the columns of `cloudtrail`
/// (struct leaves as `useridentity.arn`) and trailhouse's functions.
pub struct Completion {
    words: Vec<String>,
}

impl Completion {
    async fn of(session: &LakeSession) -> Completion {
        let mut words: Vec<String> = views::VIEWS.iter().map(|v| v.0.to_string()).collect();
        if let Ok(tables) = session.tables().await {
            words.extend(tables.into_iter().map(|t| t.name.to_string()));
        }
        if let Ok(columns) = session.describe("cloudtrail").await {
            words.extend(columns.into_iter().map(|(c, _)| c));
        }
        words.extend(
            functions::catalog().into_iter().filter_map(|(sig, _)| Some(format!("{}(", sig.split('(').next()?))),
        );
        Completion::new(words)
    }

    fn new(mut words: Vec<String>) -> Completion {
        words.sort();
        words.dedup();
        Completion { words }
    }

    /// Where the word before `pos` starts, and the names it may complete to.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rfind(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = before[start..].to_ascii_lowercase();
        if word.is_empty() {
            return (start, vec![]);
        }
        (start, self.words.iter().filter(|w| w.starts_with(&word)).cloned().collect())
    }
}

impl rustyline::completion::Completer for Completion {
    type Candidate = String;
    fn complete(&self, line: &str, pos: usize, _: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl rustyline::hint::Hinter for Completion {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Completion {}
impl rustyline::validate::Validator for Completion {}
impl rustyline::Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_tables_views_struct_leaves_and_functions() {
        let c = Completion::new(
            ["cloudtrail", "actors", "useridentity.arn", "useridentity.accountid", "useridentity.type", "principal("]
                .map(String::from)
                .to_vec(),
        );
        assert_eq!(c.candidates("SELECT * FROM clo", 17), (14, vec!["cloudtrail".to_string()]));
        assert_eq!(
            c.candidates("SELECT useridentity.a", 21),
            (7, vec!["useridentity.accountid".to_string(), "useridentity.arn".to_string()])
        );
        assert_eq!(c.candidates("SELECT PRIN", 11), (7, vec!["principal(".to_string()]));
        assert_eq!(c.candidates("SELECT ", 7), (7, vec![]));
    }
}
