//! Ballista's scheduler, in this process, with trailhouse's functions, plan rules and codec.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::codec::LakeCodec;
use crate::{ClusterError, Result, lake_runtime, lake_state};

/// A scheduler bound to its address, not yet serving.
pub struct Scheduler {
    listener: tokio::net::TcpListener,
    config: Arc<SchedulerConfig>,
}

impl Scheduler {
    /// Binds `address` (port 0: a free port). `external_host` is the name executors and
    /// clients reach this machine by (default: the bound address).
    pub async fn bind(address: SocketAddr, external_host: Option<String>) -> Result<Scheduler> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|cause| ClusterError::Bind { address: address.to_string(), cause })?;
        let bound =
            listener.local_addr().map_err(|cause| ClusterError::Bind { address: address.to_string(), cause })?;
        let session_builder: ballista_scheduler::SessionBuilder =
            Arc::new(|config: SessionConfig| lake_state(config, lake_runtime(None)?));
        let config = SchedulerConfig {
            bind_host: bound.ip().to_string(),
            bind_port: bound.port(),
            external_host: external_host.unwrap_or_else(|| bound.ip().to_string()),
            override_session_builder: Some(session_builder),
            override_logical_codec: Some(Arc::new(LakeCodec::default())),
            // A stage's tasks go round the executors, one each in turn, instead of filling
            // the first executor's slots: scans spread over the machines' disks and cores.
            task_distribution: TaskDistributionPolicy::RoundRobin,
            ..Default::default()
        };
        config.validate()?;
        Ok(Scheduler { listener, config: Arc::new(config) })
    }

    /// Where it listens.
    pub fn address(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|cause| ClusterError::Bind { address: "scheduler".into(), cause })
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> Result<()> {
        let cluster = BallistaCluster::new_from_config(&self.config).await?;
        let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, self.config).await?;
        start_grpc_service_with_listener(self.listener, scheduler).await?;
        Ok(())
    }
}
