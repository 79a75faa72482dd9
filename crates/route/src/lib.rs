//! route: alerts to where people are, never lost on the way.
//!
//! Destinations come from the settings file's `[[destinations]]` ([`config`]): Slack
//! (incoming webhook, blocks), PagerDuty Events API v2 (a trigger per alert deduplicated by
//! its id, a resolve when the alert is closed), Amazon SNS, Amazon EventBridge
//! (`PutEvents`, detail-type `trailhouse alert`), AWS Security Hub (`BatchImportFindings`
//! in ASFF: a finding's id is the alert's, so a rerun updates it), a generic JSON webhook,
//! and a JSONL file; each with a severity floor and optional rule and tactic filters, and
//! trailhouse's JSON or an OCSF Detection Finding as the body.
//!
//! Delivery goes through an outbox in the lake ([`outbox`], the `alert_deliveries` table):
//! [`Router::enqueue`] writes a pending row per (alert, destination) before the run's
//! alerts are recorded; [`Router::flush`] then delivers every pending or failed pair (this
//! run's and earlier runs'), each request retried with backoff, and records the outcome. A
//! destination that fails does not stop the others; its alerts stay pending in the lake
//! and are retried by the next run. Errors name the destination, never its URL or key.

pub mod config;
mod error;
pub mod outbox;
pub mod send;

use std::collections::BTreeMap;
use std::time::Duration;

use detections::alert::Alert;
pub use error::{Result, RouteError};
use lake::Lake;

use crate::config::{Destination, Kind};
use crate::outbox::{Row, Status};

/// What a flush did, per destination.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Flushed {
    /// Destination -> alerts delivered.
    pub delivered: BTreeMap<String, usize>,
    /// Destination -> alerts that failed this time (retried by the next run).
    pub failed: BTreeMap<String, usize>,
    /// PagerDuty incidents resolved because their alert was closed.
    pub resolved: usize,
}

/// The configured destinations and the clients to reach them.
pub struct Router {
    destinations: Vec<Destination>,
    http: reqwest::Client,
    aws: Option<send::AwsClients>,
}

impl Router {
    /// A router for `destinations`; `aws` configures the SNS, EventBridge and Security Hub
    /// clients (built only when a destination needs them).
    pub async fn new(destinations: Vec<Destination>, aws: &aws_config::SdkConfig) -> Result<Router> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RouteError::Settings(format!("cannot build the HTTP client: {e}")))?;
        let needs_aws =
            destinations.iter().any(|d| matches!(d.kind, Kind::Sns | Kind::Eventbridge | Kind::Securityhub));
        let aws = if needs_aws {
            let default_product_arn =
                if destinations.iter().any(|d| d.kind == Kind::Securityhub && d.product_arn.is_none()) {
                    default_product_arn(aws).await
                } else {
                    None
                };
            Some(send::AwsClients {
                sns: aws_sdk_sns::Client::new(aws),
                eventbridge: aws_sdk_eventbridge::Client::new(aws),
                securityhub: aws_sdk_securityhub::Client::new(aws),
                default_product_arn,
            })
        } else {
            None
        };
        Ok(Router { destinations, http, aws })
    }

    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty()
    }

    pub fn destinations(&self) -> &[Destination] {
        &self.destinations
    }

    /// Writes a pending row for each (alert, destination that wants it): before the run's
    /// alerts are recorded. Returns how many.
    pub async fn enqueue(&self, lake: &Lake, alerts: &[Alert]) -> Result<usize> {
        let rows: Vec<Row> = alerts
            .iter()
            .flat_map(|a| {
                self.destinations.iter().filter(|d| d.wants(a)).map(|d| Row {
                    alert: a.clone(),
                    destination: d.name.clone(),
                    status: Status::Pending,
                    attempts: 0,
                    error: None,
                })
            })
            .collect();
        outbox::write(lake, &rows, lake::time::now_micros()).await?;
        Ok(rows.len())
    }

    /// Delivers every pending or failed pair of a configured destination, records each
    /// outcome (one commit), and resolves the PagerDuty incidents of closed alerts.
    pub async fn flush(&self, lake: &Lake) -> Result<Flushed> {
        let now = lake::time::now_micros();
        let mut flushed = Flushed::default();
        let todo = outbox::latest(lake, &[Status::Pending, Status::Failed], now).await?;
        let mut results: Vec<Row> = Vec::new();
        for d in &self.destinations {
            let rows: Vec<&Row> = todo.iter().filter(|r| r.destination == d.name).collect();
            if rows.is_empty() {
                continue;
            }
            let alerts: Vec<Alert> = rows.iter().map(|r| r.alert.clone()).collect();
            let outcomes = send::deliver(d, &alerts, &self.http, self.aws.as_ref()).await;
            for (row, outcome) in rows.into_iter().zip(outcomes) {
                let (status, error) = match outcome {
                    Ok(()) => {
                        *flushed.delivered.entry(d.name.clone()).or_default() += 1;
                        (Status::Delivered, None)
                    }
                    Err(e) => {
                        *flushed.failed.entry(d.name.clone()).or_default() += 1;
                        (Status::Failed, Some(e.to_string()))
                    }
                };
                results.push(Row { status, error, attempts: row.attempts + 1, ..row.clone() });
            }
            if let Some(n) = flushed.failed.get(&d.name) {
                let why =
                    results.iter().rev().find_map(|r| (r.destination == d.name).then(|| r.error.clone()).flatten());
                tracing::warn!(
                    destination = %d.name,
                    failed = n,
                    error = why.as_deref().unwrap_or("?"),
                    "Delivery failed; the alerts stay pending in the lake and are retried by the next run."
                );
            }
        }
        // PagerDuty: resolve what was triggered for an alert that is now closed.
        let pagerduty: Vec<&Destination> = self.destinations.iter().filter(|d| d.kind == Kind::Pagerduty).collect();
        if !pagerduty.is_empty() {
            let delivered = outbox::latest(lake, &[Status::Delivered], now).await?;
            let delivered: Vec<&Row> =
                delivered.iter().filter(|r| pagerduty.iter().any(|d| d.name == r.destination)).collect();
            let ids: Vec<&str> = delivered.iter().map(|r| r.alert.alert_id.as_str()).collect();
            let closed = outbox::closed(lake, &ids).await?;
            for row in delivered.into_iter().filter(|r| closed.contains(&r.alert.alert_id)) {
                let Some(d) = pagerduty.iter().find(|d| d.name == row.destination) else { continue };
                match send::pagerduty_resolve(d, &row.alert.alert_id, &self.http).await {
                    Ok(()) => {
                        flushed.resolved += 1;
                        results.push(Row { status: Status::Resolved, error: None, ..row.clone() });
                    }
                    Err(e) => {
                        tracing::warn!(destination = %d.name, error = %e, "Resolve failed; retried by the next run.")
                    }
                }
            }
        }
        outbox::write(lake, &results, lake::time::now_micros()).await?;
        Ok(flushed)
    }
}

/// `arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`, the account's own product,
/// from `sts:GetCallerIdentity`; `None` when the caller cannot be found.
async fn default_product_arn(aws: &aws_config::SdkConfig) -> Option<String> {
    let region = aws.region()?.to_string();
    let who = aws_sdk_sts::Client::new(aws).get_caller_identity().send().await.ok()?;
    let account = who.account()?;
    Some(format!("arn:aws:securityhub:{region}:{account}:product/{account}/default"))
}
