//! Object stores for the lake's files on every node: local paths as they are, and an S3
//! store per bucket made on first use from the environment (the AWS credential variables,
//! `AWS_REGION`, and `TRAILHOUSE_ENDPOINT_URL` or `AWS_ENDPOINT_URL` for a local server).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use url::Url;

/// DataFusion's registry, which also makes an S3 store for a bucket it has not seen.
#[derive(Debug, Default)]
pub struct LakeStores {
    inner: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(e) if url.scheme() != "s3" => Err(e),
            Err(_) => {
                let bucket = url.host_str().unwrap_or_default();
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let endpoint = std::env::var("TRAILHOUSE_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT_URL"));
                if let Ok(endpoint) = endpoint {
                    builder = builder
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                let store: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
                tracing::info!(bucket, "S3 store for the lake's files");
                self.inner.register_store(url, store.clone());
                Ok(store)
            }
        }
    }
}
