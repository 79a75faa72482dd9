//! cluster: the lake's SQL and detections on an Apache DataFusion Ballista
//! cluster.
//!
//! - [`scheduler`]: Ballista's scheduler with trailhouse's functions and plan rules, and a
//!   codec ([`codec::LakeCodec`]) that decodes the lake's tables as plain lists of Parquet
//!   files.
//! - [`executor`]: a Ballista executor with the same functions, reading the lake's files
//!   from a shared local path or S3 ([`stores::LakeStores`]).
//! - [`client`]: a DataFusion context whose queries run on the cluster; open the lake in
//!   it with `query::LakeSession::open_in` (or run detections with
//!   `detections::run::run_in`): the client reads the Delta log, and each table travels to
//!   the scheduler as the list of its files.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let ctx = cluster::client::remote_context("df://127.0.0.1:50050").await?;
//! let session = query::LakeSession::open_in(ctx, "./lake", &Default::default()).await?;
//! let batches = session.sql("SELECT eventname, count(*) FROM cloudtrail GROUP BY 1").await?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod codec;
pub mod error;
pub mod executor;
pub mod scheduler;
pub mod stores;

pub use error::{ClusterError, Result};

use std::sync::Arc;

use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;

/// A session state with trailhouse's rules, functions and stores, for `config` (a
/// scheduler plans with it; an executor takes its functions).
pub(crate) fn lake_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> datafusion::common::Result<SessionState> {
    let state = query::state_builder(config).with_runtime_env(runtime).build();
    let rules = ballista_core::optimizer::with_ballista_optimizer_rules(state.optimizers());
    let mut state =
        datafusion::execution::SessionStateBuilder::new_from_existing(state).with_optimizer_rules(rules).build();
    query::functions::register(&mut state)?;
    Ok(state)
}

/// A runtime whose object stores include S3 buckets made on first use.
pub(crate) fn lake_runtime(work_dir: Option<&std::path::Path>) -> datafusion::common::Result<Arc<RuntimeEnv>> {
    let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(stores::LakeStores::default()));
    if let Some(dir) = work_dir {
        builder = builder.with_temp_file_path(dir);
    }
    Ok(Arc::new(builder.build()?))
}
