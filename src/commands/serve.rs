//! `trailhouse serve`: the web console over the lake (overview, alerts and their triage,
//! investigations, SQL), one process, no separate server.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::{LakeAccess, PackArgs};
use crate::signal::wait_for_signal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// The rules whose titles, triage guidance and references an alert's page shows.
    #[command(flatten)]
    pub pack: PackArgs,
    /// Address to listen on (port 0: a free one; the URL is printed). Anything but a
    /// loopback address needs --auth-token.
    #[arg(long, default_value = "127.0.0.1:8080", env = "TRAILHOUSE_SERVE_BIND")]
    pub bind: String,
    /// A token every request must carry (Authorization: Bearer TOKEN, or open
    /// /?token=TOKEN once in the browser); required off loopback.
    #[arg(long, env = "TRAILHOUSE_SERVE_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// A folder of named queries (`NAME.sql`) the SQL page lists (docs/sql.md, "Named queries").
    #[arg(long, env = "TRAILHOUSE_QUERIES", value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub queries: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub memory: crate::args::MemoryArgs,
    #[command(flatten)]
    pub enrich: crate::args::EnrichArgs,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    a.enrich.install(&a.lake.aws()).await?;
    let rules = a.pack.load(&[])?;
    let config = console::Config::new(a.lake.location(), a.lake.options(None), rules)
        .with_token(a.auth_token)
        .with_saved_queries(a.queries)
        .with_memory_limit(a.memory.limit());
    let has_token = config.token.is_some();
    let server = console::Server::bind(&a.bind, config)
        .await
        .with_context(|| format!("cannot serve the lake at {}", a.lake.location()))?;
    let url = format!("http://{}/", server.address());
    // The first line on stdout is the URL (scripts and tests read it); the token is never
    // printed.
    println!("trailhouse console at {url}{}", if has_token { " (token required)" } else { "" });
    std::io::stdout().flush().ok();
    tracing::info!(%url, lake = a.lake.location(), "serving");
    server.serve(wait_for_signal()).await?;
    eprintln!("Stopped.");
    Ok(ExitCode::SUCCESS)
}
