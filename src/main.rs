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

/// The error and its causes on one line, each cause once. The workspace's errors print
/// their cause in their own message and do not also return it as `source()` (tested
/// below); anyhow's contexts add a layer each; an error of another crate (delta-rs,
/// DataFusion) may still do both, and its repeat is left out here.
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
/// A query error keeps its I/O cause in its message, so it is asked, also where a
/// detection or cluster error carries it.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let query = c
            .downcast_ref::<query::QueryError>()
            .or_else(|| match c.downcast_ref::<detections::DetectError>() {
                Some(detections::DetectError::Query(q)) => Some(q),
                _ => None,
            })
            .or_else(|| match c.downcast_ref::<cluster::ClusterError>() {
                Some(cluster::ClusterError::Query(q)) => Some(q),
                _ => None,
            });
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || query.is_some_and(query::QueryError::is_broken_pipe)
    })
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        // delta-rs logs expected conditions (a table not created yet) as errors; they
        // reach us as values anyway.
        0 => {
            "warn,deltalake_core=off,delta_kernel=off,buoyant_kernel=off,trailhouse=info,lake=info,ingest=info,query=info,detections=info,cluster=info,console=info"
        }
        1 => {
            "warn,trailhouse=debug,lake=debug,ingest=debug,query=debug,detections=debug,cluster=debug,console=debug,ballista_scheduler=info,ballista_executor=info"
        }
        _ => "info,trailhouse=trace,lake=trace,ingest=trace,query=trace,detections=trace,cluster=trace,console=trace",
    };
    let Ok(mut filter) = EnvFilter::try_from_env("TRAILHOUSE_LOG") else {
        // Our defaults keep these crates at info or above.
        return install(EnvFilter::new(default));
    };
    // The AWS SDK logs the resolved identity (access key id) at debug and signing details
    // at trace; delta-rs logs its object store's configuration, key id included, at debug.
    // These crates never log below info, whatever TRAILHOUSE_LOG asks for (tests/it/sqs.rs).
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

#[cfg(test)]
mod tests {
    use std::error::Error;

    /// Whether `e` prints a cause that it also returns as `source()`: printed whole
    /// (`{:#}`, a chain walk), such an error says the same thing twice.
    fn repeats_its_source(e: &(dyn Error + 'static)) -> bool {
        let text = e.to_string();
        e.source().is_some_and(|s| text.contains(&s.to_string()))
    }

    #[test]
    fn the_workspaces_errors_print_their_cause_once() {
        let io = || std::io::Error::other("disk on fire");
        let df = || datafusion::error::DataFusionError::Plan("no such column x".into());
        let arrow = || datafusion::arrow::error::ArrowError::ComputeError("bad cast".into());
        let errors: Vec<Box<dyn Error>> = vec![
            Box::new(lake::LakeError::Io { path: "p".into(), cause: io() }),
            Box::new(ingest::IngestError::Io { path: "p".into(), cause: io() }),
            Box::new(query::QueryError::from(df())),
            Box::new(query::QueryError::from(arrow())),
            Box::new(query::QueryError::Io { context: "writing".into(), cause: io() }),
            Box::new(detections::DetectError::from(arrow())),
            Box::new(detections::DetectError::from(df())),
            Box::new(detections::DetectError::Io { context: "reading".into(), cause: io() }),
            Box::new(detections::DetectError::from(query::QueryError::from(df()))),
            Box::new(cluster::ClusterError::Bind { address: "a".into(), cause: io() }),
            Box::new(cluster::ClusterError::from(query::QueryError::from(df()))),
            Box::new(console::ConsoleError::Bind { address: "a".into(), cause: io() }),
            Box::new(route::RouteError::from(arrow())),
        ];
        for e in &errors {
            assert!(!repeats_its_source(e.as_ref()), "{e:?} prints its source and returns it");
            // The cause is in the message: nothing is lost by not returning it.
            assert!(["disk on fire", "no such column x", "bad cast"].iter().any(|c| e.to_string().contains(c)), "{e}");
        }
        // ... and the whole line names each cause once.
        let e = anyhow::Error::from(query::QueryError::from(df())).context("running the rules");
        assert_eq!(super::one_line(&e).matches("no such column x").count(), 1, "{}", super::one_line(&e));
        assert_eq!(format!("{e:#}").matches("no such column x").count(), 1, "{e:#}");
    }
}
