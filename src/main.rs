//! The `trailhouse` command: thin glue over the `lake`, `ingest`, `query` and `detections`
//! crates. This file parses the arguments, sets up logging, runs the command and prints its
//! error once; each command lives in [`commands`], the flags they share in [`args`].

mod args;
mod commands;
mod exit;
mod progress;
mod repl;
mod settings;
mod signal;

use std::process::ExitCode;

use clap::Parser;

/// CloudTrail logs into a Delta Lake you can query with SQL and run detections over.
///
/// Start with `trailhouse demo`: it generates sample logs, ingests them into ./lake and
/// shows what is there.
#[derive(Debug, Parser)]
#[command(name = "trailhouse", version, about, long_about = None, after_help = exit::HELP)]
struct Cli {
    /// More log output (-v debug, -vv trace); TRAILHOUSE_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// A settings file (TOML): any command's flags by their long name with `_` for `-`, at
    /// the top or in a `[command]` table; the command line and environment win over it
    /// (docs/configuration.md).
    #[arg(long, global = true, env = "TRAILHOUSE_CONFIG", value_name = "FILE")]
    #[allow(dead_code)] // read before parsing, by settings::apply
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let root = settings::with_env(Cli::command());
    let mut built = root.clone();
    built.build();
    let args = match settings::apply(std::env::args_os().collect(), &built) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = match Cli::from_arg_matches(&root.get_matches_from(args)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.command.run()) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: many errors (ours, delta-rs's)
/// already print their source in their own message, and `{:#}` would print it again.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}

/// True when the error is a closed stdout (`trailhouse sql ... | head`): not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<query::QueryError>().is_some_and(query::QueryError::is_broken_pipe)
    })
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        // delta-rs logs expected conditions (a table not created yet) as errors; they
        // reach us as values anyway.
        0 => {
            "warn,deltalake_core=off,delta_kernel=off,buoyant_kernel=off,trailhouse=info,ingest=info,query=info,detections=info,cluster=info,console=info"
        }
        1 => {
            "warn,trailhouse=debug,ingest=debug,query=debug,detections=debug,cluster=debug,console=debug,ballista_scheduler=info,ballista_executor=info"
        }
        _ => "info,trailhouse=trace,ingest=trace,query=trace,detections=trace,cluster=trace,console=trace",
    };
    let Ok(mut filter) = EnvFilter::try_from_env("TRAILHOUSE_LOG") else {
        // Our defaults keep these crates at info or above.
        return install(EnvFilter::new(default));
    };
    // The AWS SDK logs the resolved identity (access key id) at debug and signing details
    // at trace; delta-rs logs its object store's configuration, key id included, at debug.
    // These crates never log below info, whatever TRAILHOUSE_LOG asks for (tests/sqs.rs).
    for target in [
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "aws_sigv4",
        "aws_runtime",
        "aws_config",
        "aws_credential_types",
        "aws_smithy_http_client",
        "deltalake",
        "deltalake_core",
        "deltalake_aws",
        "object_store",
        "reqwest",
        "hyper",
        "hyper_util",
    ] {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    install(filter);
}

fn install(filter: tracing_subscriber::EnvFilter) {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
