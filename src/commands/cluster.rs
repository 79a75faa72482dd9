//! `trailhouse cluster`: a Ballista scheduler or executor with trailhouse's functions, so
//! `sql`, `export` and `detect` can run on several machines (`--cluster df://HOST:PORT`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub node: Node,
}

#[derive(Debug, clap::Subcommand)]
pub enum Node {
    /// The scheduler: plans the queries clients send, hands their tasks to executors.
    ///
    /// Example:
    ///   trailhouse cluster scheduler --bind 0.0.0.0:50050 --external-host scheduler.internal
    #[command(verbatim_doc_comment)]
    Scheduler {
        /// Address to listen on (port 0: a free one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
        /// The name executors and clients reach this machine by [default: the bind address].
        #[arg(long)]
        external_host: Option<String>,
    },
    /// An executor: runs tasks, reading the lake's Parquet files from its store (a path
    /// every node sees, or S3 with the AWS environment: credentials, AWS_REGION, and
    /// TRAILHOUSE_ENDPOINT_URL for a local server).
    ///
    /// Example:
    ///   trailhouse cluster executor --scheduler df://scheduler.internal:50050 --bind 0.0.0.0:50051
    #[command(verbatim_doc_comment)]
    Executor {
        /// The scheduler.
        #[arg(long, env = "TRAILHOUSE_CLUSTER", value_name = "df://HOST:PORT")]
        scheduler: String,
        /// Address to listen on; its port serves Arrow Flight (results, shuffles); 0: a free one.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: SocketAddr,
        /// The port the scheduler pushes tasks to (0: a free one).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// The name the scheduler and clients reach this executor by [default: the bind address].
        #[arg(long)]
        external_host: Option<String>,
        /// Tasks run at once [default: the cores].
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Where shuffle files go [default: a folder under the system's temporary directory].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// The IP and account files the SQL functions read here (the same as the clients').
        #[command(flatten)]
        enrich: crate::args::EnrichArgs,
    },
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.node {
        Node::Scheduler { bind, external_host } => {
            let scheduler = cluster::scheduler::Scheduler::bind(bind, external_host).await?;
            let address = scheduler.address()?;
            // On stdout, for scripts and tests that started it on port 0.
            println!("scheduler listening on df://{address}");
            tracing::info!(%address, "Scheduler listening.");
            tokio::select! {
                served = scheduler.serve() => served?,
                _ = crate::signal::wait_for_signal() => tracing::info!("Scheduler stopped."),
            }
        }
        Node::Executor { scheduler, bind, grpc_port, external_host, concurrent_tasks, work_dir, enrich } => {
            // An executor has no lake or AWS flags: the SDK's own chain (AWS_REGION, ...).
            enrich.install(&ingest::aws::AwsOptions::default()).await?;
            let work_dir = work_dir
                .unwrap_or_else(|| std::env::temp_dir().join(format!("trailhouse-executor-{}", std::process::id())));
            let opts = cluster::executor::ExecutorOptions {
                scheduler,
                bind,
                grpc_port,
                external_host,
                concurrent_tasks: concurrent_tasks
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
                work_dir,
            };
            cluster::executor::run(opts).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
