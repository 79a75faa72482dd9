//! What can go wrong starting or reaching a cluster.

/// A cluster error.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Ballista(#[from] ballista_core::error::BallistaError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("cannot listen on {address}: {cause}")]
    Bind { address: String, cause: std::io::Error },
    #[error("bad cluster address {0:?}: expected df://host:port")]
    Address(String),
    #[error(transparent)]
    Query(#[from] query::QueryError),
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
