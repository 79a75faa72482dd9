//! `trailhouse sql`: one statement, a file of them, SQL piped on stdin, or the prompt.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use query::output::Format;

use crate::args::{ClusterArgs, LakeAccess};
use crate::repl;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The statement(s), e.g. "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1".
    /// Without a query or --file: the interactive prompt (or SQL read from a piped stdin).
    #[arg(conflicts_with = "file")]
    pub query: Option<String>,
    /// Run the statements in this file (`;`-separated).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Output format [default: table on a terminal, ndjson when piped or with --output].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the result to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// After each statement, a line on stderr: rows, time, bytes read from storage, files
    /// and row groups read and skipped (by partition values, statistics, bloom filters).
    /// The prompt always shows it (`\stats off` hides it).
    #[arg(long)]
    pub stats: bool,
    /// A folder of named queries (`NAME.sql` files) the prompt lists with `\saved` and runs
    /// with `\run NAME k=v` (docs/sql.md, "Named queries"); `serve --queries` lists the same.
    #[arg(long, env = "TRAILHOUSE_QUERIES", value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub queries: Option<PathBuf>,
    /// The interactive prompt even when stdin is not a terminal (commands read line by line).
    #[arg(short, long, conflicts_with_all = ["query", "file"])]
    pub interactive: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let session = a.cluster.session(&a.lake).await?;
    let sql = match (&a.query, &a.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) if a.interactive || std::io::stdin().is_terminal() => {
            let mut options = repl::ReplOptions { saved: a.queries.clone(), ..Default::default() };
            if let Some(f) = a.format {
                options.format = f;
            }
            repl::run(&session, options).await?;
            return Ok(ExitCode::SUCCESS);
        }
        (None, None) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read SQL from stdin")?;
            text
        }
    };
    if session.is_empty().await? {
        eprintln!(
            "note: the lake at {} holds no events yet; fill it with `trailhouse ingest --source DIR|s3://...` or `trailhouse demo`.",
            a.lake.location()
        );
    }
    let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
    let format = match a.format {
        Some(f) => f,
        None if to_terminal => Format::Table,
        None => Format::Ndjson,
    };
    if format == Format::Parquet && to_terminal {
        anyhow::bail!("Parquet is binary: add --output FILE or pipe stdout to a file");
    }
    // Ctrl-C cancels the statements (their plans stop) and exits 130.
    let mut interrupts = crate::signal::Interrupts::listen().context("cannot listen for Ctrl-C")?;
    tracing::debug!("Running the statements; Ctrl-C cancels them.");
    let ran = async {
        match &a.output {
            Some(path) => {
                let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
                let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
                Ok::<_, anyhow::Error>(query::run::run_script(&session, &sql, format, &mut out).await?)
            }
            None => {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
                Ok(query::run::run_script(&session, &sql, format, &mut out).await?)
            }
        }
    };
    let outcomes = tokio::select! {
        ran = ran => ran?,
        _ = interrupts.next() => {
            eprintln!("Cancelled.");
            return Ok(crate::exit::Exit::Interrupted.into());
        }
    };
    for o in &outcomes {
        if let Some(note) = &o.note {
            eprintln!("{note}");
        }
        if a.stats {
            eprintln!("{}", o.summary());
        }
    }
    if let Some(path) = &a.output {
        let rows: u64 = outcomes.iter().map(|o| o.rows).sum();
        eprintln!("Wrote {rows} rows to {}.", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
