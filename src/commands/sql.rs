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
            let mut options = repl::ReplOptions::default();
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
    let outcomes = match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            query::run::run_script(&session, &sql, format, &mut out).await?
        }
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            query::run::run_script(&session, &sql, format, &mut out).await?
        }
    };
    for o in &outcomes {
        if let Some(note) = &o.note {
            eprintln!("{note}");
        }
    }
    if let Some(path) = &a.output {
        let rows: u64 = outcomes.iter().map(|o| o.rows).sum();
        eprintln!("Wrote {rows} rows to {}.", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
