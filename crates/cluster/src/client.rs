//! A DataFusion context whose queries run on a Ballista cluster.

use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::prelude::SessionContext;

use crate::Result;
use crate::codec::LakeCodec;
use crate::executor::parse_url;

/// A context for the scheduler at `url` (`df://host:port`), with trailhouse's settings,
/// plan rules and functions; register the lake in it (`query::LakeSession::open_in`).
/// Its plans are optimised here and shipped to the scheduler, each lake table as the list
/// of its files; results come back from the executors. Each partition of a stage is its
/// own task (`ballista.scheduler.max_partitions_per_task = 1`), so a stage spreads over
/// the executors instead of filling one executor's slots first. Dynamic filter pushdown is
/// off (see below).
pub async fn remote_context(url: &str) -> Result<SessionContext> {
    parse_url(url)?;
    let config = query::lake_config()
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LakeCodec::default()))
        .set_usize("ballista.scheduler.max_partitions_per_task", 1)
        // Dynamic filters (a TopK's threshold, a join's build side) are state shared by the
        // partitions of one process; split into tasks they hit a debug assertion in
        // DataFusion 55's TopK (no emitter left in a task's share of a SortExec).
        .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false)
        // Ballista 55's adaptive planner (on by default) re-planned one job of a detection
        // run without end (49,400 stages in 6 minutes on the tests' lake); the static
        // planner runs the whole pack.
        .set_bool("ballista.planner.adaptive.enabled", false);
    let state = query::state_builder(config).build();
    // Ballista replaces the state's functions with DataFusion's: ours are added after.
    let mut ctx = SessionContext::remote_with_state(url, state).await?;
    query::functions::register(&mut ctx)?;
    Ok(ctx)
}
