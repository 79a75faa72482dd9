//! What can go wrong starting or reaching a cluster.

/// A cluster error.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
    #[error("bad cluster address {0:?}: expected df://host:port")]
    Address(String),
    #[error("{0}")]
    Query(#[from] query::QueryError),
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
