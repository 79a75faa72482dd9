//! A Ballista executor, in this process, with trailhouse's functions and the lake's stores.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::JobId;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::{ShuffleWritePartition, TaskColumnStats};
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;
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
        .map_err(|cause| ClusterError::Bind { address: format!("{ip}:0"), cause })?;
    l.local_addr().map(|a| a.port()).map_err(|cause| ClusterError::Bind { address: format!("{ip}:0"), cause })
}

/// Runs an executor until SIGTERM/SIGINT or the scheduler stops it.
pub async fn run(opts: ExecutorOptions) -> Result<()> {
    let (scheduler_host, scheduler_port) = parse_url(&opts.scheduler)?;
    let ip = opts.bind.ip();
    let port = if opts.bind.port() == 0 { free_port(ip)? } else { opts.bind.port() };
    let grpc_port = if opts.grpc_port == 0 { free_port(ip)? } else { opts.grpc_port };
    std::fs::create_dir_all(&opts.work_dir)
        .map_err(|cause| ClusterError::Bind { address: opts.work_dir.display().to_string(), cause })?;
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
        override_execution_engine: Some(Arc::new(LakeEngine(DefaultExecutionEngine::new()))),
        ..Default::default()
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}

/// Ballista's execution engine, except that a task whose plan the scheduler reshaped
/// reports no operator metrics.
///
/// Ballista 55's scheduler restricts each task's plan to that task's partitions. Below a
/// `UnionExec`, a branch the task does not read becomes a 0-partition in-memory scan, and
/// when that branch was a `PlaceholderRowExec` or `EmptyExec` (which have no metrics) the
/// task's metrics array gets one entry more than the stage's plan has. The scheduler then
/// refuses that task's status ("task metrics array size 19 does not equal with the stage
/// metrics array size 18") and the job never finishes: seen with the integrity rule's
/// three-branch union. Such a task reports an empty array, which the scheduler skips; the
/// others report theirs, whose shape is the stage's, so `EXPLAIN ANALYZE` keeps its
/// metrics (from those tasks).
struct LakeEngine(DefaultExecutionEngine);

impl ExecutionEngine for LakeEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> datafusion::error::Result<Arc<dyn QueryStageExecutor>> {
        let reshaped = has_empty_stand_in(plan.as_ref());
        let inner = self.0.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StageExec { inner, reshaped }))
    }
}

/// Whether `plan` holds a 0-partition in-memory scan: what the scheduler puts in place of
/// a leaf this task does not read.
fn has_empty_stand_in(plan: &dyn ExecutionPlan) -> bool {
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>() {
        let source: &dyn std::any::Any = exec.data_source().as_ref();
        if source.downcast_ref::<MemorySourceConfig>().is_some_and(|m| m.partitions().is_empty()) {
            return true;
        }
    }
    plan.children().iter().any(|c| has_empty_stand_in(c.as_ref()))
}

#[derive(Debug)]
struct StageExec {
    inner: Arc<dyn QueryStageExecutor>,
    reshaped: bool,
}

impl std::fmt::Display for StageExec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for StageExec {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<Vec<ShuffleWritePartition>> {
        self.inner.execute_query_stage(task_id, context).await
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        if self.reshaped { vec![] } else { self.inner.collect_plan_metrics() }
    }

    fn collect_runtime_stats_reports(&self) -> Vec<ballista_core::serde::protobuf::RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(
        &self,
    ) -> datafusion::error::Result<Vec<ballista_core::serde::protobuf::WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduler_url_is_df_host_port_and_anything_else_is_refused() {
        assert_eq!(parse_url("df://10.0.0.5:50050").unwrap(), ("10.0.0.5".to_string(), 50050));
        assert_eq!(parse_url("df://scheduler.internal:50050/").unwrap(), ("scheduler.internal".to_string(), 50050));
        for bad in ["http://10.0.0.5:50050", "df://10.0.0.5", "df://10.0.0.5:port", "10.0.0.5:50050"] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
