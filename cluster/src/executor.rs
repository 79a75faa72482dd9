//! A Ballista executor, in this process, with trailhouse's functions and the lake's stores.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::prelude::SessionConfig;

use crate::codec::LakeCodec;
use crate::{ClusterError, Result, lake_runtime, lake_state};

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `df://host:port`.
    pub scheduler: String,
    /// The address to listen on; its port serves Arrow Flight (results and shuffles),
    /// 0 for a free one.
    pub bind: SocketAddr,
    /// The port the scheduler pushes tasks to (0: a free one).
    pub grpc_port: u16,
    /// The name the scheduler and clients reach this executor by (default: the bind
    /// address).
    pub external_host: Option<String>,
    /// Tasks run at once (default: the cores).
    pub concurrent_tasks: usize,
    /// Where shuffle files go.
    pub work_dir: PathBuf,
}

/// `df://host:port` as (host, port).
pub fn parse_url(url: &str) -> Result<(String, u16)> {
    let rest = url.strip_prefix("df://").ok_or_else(|| ClusterError::Address(url.into()))?;
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':').ok_or_else(|| ClusterError::Address(url.into()))?;
    let port = port.parse().map_err(|_| ClusterError::Address(url.into()))?;
    Ok((host.to_string(), port))
}

/// A free port on `ip` (Ballista advertises the literal port it is given, so 0 cannot be
/// passed through).
fn free_port(ip: std::net::IpAddr) -> Result<u16> {
    let l = std::net::TcpListener::bind((ip, 0))
        .map_err(|source| ClusterError::Bind { address: format!("{ip}:0"), source })?;
    l.local_addr().map(|a| a.port()).map_err(|source| ClusterError::Bind { address: format!("{ip}:0"), source })
}

/// Runs an executor until SIGTERM/SIGINT or the scheduler stops it.
pub async fn run(opts: ExecutorOptions) -> Result<()> {
    let (scheduler_host, scheduler_port) = parse_url(&opts.scheduler)?;
    let ip = opts.bind.ip();
    let port = if opts.bind.port() == 0 { free_port(ip)? } else { opts.bind.port() };
    let grpc_port = if opts.grpc_port == 0 { free_port(ip)? } else { opts.grpc_port };
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|source| ClusterError::Bind { address: opts.work_dir.display().to_string(), source })?;
    let work_dir = opts.work_dir.clone();
    let functions = lake_state(SessionConfig::new(), lake_runtime(None)?)?;
    let runtime: ballista_core::RuntimeProducer = Arc::new(move |_: &SessionConfig| lake_runtime(Some(&work_dir)));
    tracing::info!(scheduler = %opts.scheduler, flight = %SocketAddr::new(ip, port), grpc_port, "Executor starting.");
    let config = ExecutorProcessConfig {
        bind_host: ip.to_string(),
        external_host: Some(opts.external_host.clone().unwrap_or_else(|| ip.to_string())),
        port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        // Wait for a scheduler started at the same moment.
        scheduler_connect_timeout_seconds: 30,
        vcores: opts.concurrent_tasks.max(1),
        work_dir: Some(opts.work_dir.display().to_string()),
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&functions))),
        override_runtime_producer: Some(runtime),
        override_logical_codec: Some(Arc::new(LakeCodec::default())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
