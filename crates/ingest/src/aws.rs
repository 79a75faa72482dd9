//! AWS SDK clients from the standard credential chain, with an optional endpoint (a local
//! S3/SQS server) and path-style addressing; [`failure`] explains their errors.

pub mod failure;

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// Endpoint URL (`AWS_ENDPOINT_URL` is honoured too); path-style addressing is used
    /// whenever an endpoint is given.
    pub endpoint_url: Option<String>,
    /// Region; else the SDK's chain (`AWS_REGION`, profile), else `us-east-1`.
    pub region: Option<String>,
}

impl AwsOptions {
    /// The endpoint for `service` (`S3`, `SQS`, `CLOUDTRAIL`): `--endpoint-url`, else
    /// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL` (the SDK's own order).
    fn endpoint_for(&self, service: &str) -> Option<String> {
        let env = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
        self.endpoint_url
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| env(&format!("AWS_ENDPOINT_URL_{service}")))
            .or_else(|| env("AWS_ENDPOINT_URL"))
    }

    /// The shared SDK configuration.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        // Without --endpoint-url the SDK reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
        if let Some(ep) = self.endpoint_url.clone().filter(|s| !s.is_empty()) {
            loader = loader.endpoint_url(ep);
        }
        let region = self.region.clone();
        let chain = aws_config::meta::region::RegionProviderChain::first_try(region.map(aws_config::Region::new))
            .or_default_provider()
            .or_else("us-east-1");
        // Throttling, 5xx, resets and timeouts are retried with exponential backoff and full
        // jitter: up to 8 attempts (about a minute of trying) before an error surfaces.
        let retry = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(8)
            .with_initial_backoff(std::time::Duration::from_millis(200))
            .with_max_backoff(std::time::Duration::from_secs(20));
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(60))
            .build();
        loader.region(chain).retry_config(retry).timeout_config(timeouts).load().await
    }

    /// An S3 client.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let conf = self.sdk_config().await;
        let s3 = aws_sdk_s3::config::Builder::from(&conf).force_path_style(self.endpoint_for("S3").is_some()).build();
        aws_sdk_s3::Client::from_conf(s3)
    }

    /// A CloudTrail client for `region` (public keys are per region).
    pub async fn cloudtrail_client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = self.sdk_config().await;
        let ct = aws_sdk_cloudtrail::config::Builder::from(&conf)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        aws_sdk_cloudtrail::Client::from_conf(ct)
    }

    /// CloudTrail's public keys for `region` valid at some time in `[start, end]` (seconds
    /// since the epoch), from `ListPublicKeys` (every page), as `list-public-keys` prints them.
    pub async fn list_public_keys(
        &self,
        region: &str,
        start: i64,
        end: i64,
    ) -> Result<integrity::keys::PublicKeyList, String> {
        use aws_sdk_cloudtrail::primitives::DateTime;
        let client = self.cloudtrail_client(region).await;
        let mut out = integrity::keys::PublicKeyList::default();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_public_keys()
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| failure::explain(&e, "ListPublicKeys", &format!("CloudTrail in {region}")).message)?;
            let time = |t: Option<&DateTime>| {
                t.and_then(|t| t.fmt(aws_sdk_cloudtrail::primitives::DateTimeFormat::DateTime).ok())
            };
            for k in page.public_key_list() {
                out.public_key_list.push(integrity::keys::PublicKeyEntry::from_der(
                    k.value().map(|b| b.as_ref()).unwrap_or_default(),
                    time(k.validity_start_time()),
                    time(k.validity_end_time()),
                    k.fingerprint(),
                ));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Storage options for delta-rs (an `s3://` lake) matching these settings.
    pub fn lake_storage_options(&self) -> std::collections::HashMap<String, String> {
        let mut o = std::collections::HashMap::new();
        if let Some(ep) = self.endpoint_for("S3") {
            if ep.starts_with("http://") {
                o.insert("AWS_ALLOW_HTTP".into(), "true".into());
            }
            o.insert("AWS_ENDPOINT_URL".into(), ep);
            o.insert("AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into(), "false".into());
        }
        if let Some(r) = &self.region {
            o.insert("AWS_REGION".into(), r.clone());
        }
        o
    }
}
