//! One delivery to one destination, each kind's wire format, retried with backoff.

use std::time::Duration;

use detections::alert::{Alert, summary_line};
use detections::rule::{Severity, Tactic};
use serde_json::{Value, json};

use crate::config::{Body, Destination, Kind, PAGERDUTY_EVENTS_URL};
use crate::error::{Result, RouteError};

/// Tries of one request before the destination's attempt counts as failed.
const TRIES: u32 = 3;

/// The AWS clients the AWS kinds use (built once per run).
pub struct AwsClients {
    pub sns: aws_sdk_sns::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub securityhub: aws_sdk_securityhub::Client,
    /// The product findings are imported under when a destination names none.
    pub default_product_arn: Option<String>,
}

/// The alert's body in the destination's format.
fn body(d: &Destination, a: &Alert) -> Value {
    match d.format {
        Body::Ocsf => detections::ocsf::alert_finding(a),
        Body::Json if matches!(d.kind, Kind::Slack | Kind::Webhook) => detections::sink::webhook_body(a),
        Body::Json => serde_json::to_value(a).unwrap_or(Value::Null),
    }
}

/// Delivers `alerts` to `d`; each alert's outcome (Ok, or why it failed after retries).
pub async fn deliver(
    d: &Destination,
    alerts: &[Alert],
    http: &reqwest::Client,
    aws: Option<&AwsClients>,
) -> Vec<Result<()>> {
    match d.kind {
        Kind::Slack | Kind::Webhook => {
            let url = match d.url() {
                Ok(u) => u,
                Err(e) => return alerts.iter().map(|_| Err(RouteError::delivery(&d.name, e.to_string()))).collect(),
            };
            let mut out = Vec::new();
            for a in alerts {
                if gave_up(&out) {
                    out.push(Err(not_tried(d)));
                    continue;
                }
                out.push(post_json(http, &d.name, &url, &body(d, a)).await);
            }
            out
        }
        Kind::Pagerduty => {
            let key = match d.routing_key() {
                Ok(k) => k,
                Err(e) => return alerts.iter().map(|_| Err(RouteError::delivery(&d.name, e.to_string()))).collect(),
            };
            let url = d.events_url.as_deref().unwrap_or(PAGERDUTY_EVENTS_URL);
            let mut out = Vec::new();
            for a in alerts {
                if gave_up(&out) {
                    out.push(Err(not_tried(d)));
                    continue;
                }
                out.push(post_json(http, &d.name, url, &pagerduty_trigger(&key, a)).await);
            }
            out
        }
        Kind::Jsonl => {
            let result = append_jsonl(d, alerts);
            alerts
                .iter()
                .map(|_| result.as_ref().map(|_| ()).map_err(|e| RouteError::delivery(&d.name, e.clone())))
                .collect()
        }
        Kind::Sns | Kind::Eventbridge | Kind::Securityhub => {
            let Some(aws) = aws else {
                return alerts.iter().map(|_| Err(RouteError::delivery(&d.name, "no AWS client"))).collect();
            };
            match d.kind {
                Kind::Sns => {
                    let mut out = Vec::new();
                    for a in alerts {
                        if gave_up(&out) {
                            out.push(Err(not_tried(d)));
                            continue;
                        }
                        out.push(retry(&d.name, || sns_publish(aws, d, a)).await);
                    }
                    out
                }
                Kind::Eventbridge => {
                    let mut out = Vec::new();
                    for chunk in alerts.chunks(10) {
                        let r = retry(&d.name, || eventbridge_put(aws, d, chunk)).await;
                        out.extend(
                            chunk.iter().map(|_| {
                                r.as_ref().map(|_| ()).map_err(|e| RouteError::delivery(&d.name, e.to_string()))
                            }),
                        );
                    }
                    out
                }
                _ => {
                    let mut out = Vec::new();
                    for chunk in alerts.chunks(100) {
                        let r = retry(&d.name, || securityhub_import(aws, d, chunk)).await;
                        out.extend(
                            chunk.iter().map(|_| {
                                r.as_ref().map(|_| ()).map_err(|e| RouteError::delivery(&d.name, e.to_string()))
                            }),
                        );
                    }
                    out
                }
            }
        }
    }
}

/// Whether an earlier alert of this batch failed after its retries: a destination that is
/// down is not hammered with the rest, which stay pending for the next run.
fn gave_up(so_far: &[Result<()>]) -> bool {
    so_far.iter().any(Result::is_err)
}

fn not_tried(d: &Destination) -> RouteError {
    RouteError::delivery(&d.name, "not tried: the destination failed for an earlier alert of this run")
}

/// Resolves a PagerDuty incident triggered for `alert_id` (its alert was closed).
pub async fn pagerduty_resolve(d: &Destination, alert_id: &str, http: &reqwest::Client) -> Result<()> {
    let key = d.routing_key().map_err(|e| RouteError::delivery(&d.name, e.to_string()))?;
    let url = d.events_url.as_deref().unwrap_or(PAGERDUTY_EVENTS_URL);
    let body = json!({ "routing_key": key, "event_action": "resolve", "dedup_key": alert_id });
    post_json(http, &d.name, url, &body).await
}

fn pagerduty_trigger(key: &str, a: &Alert) -> Value {
    let severity = match a.severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    };
    let mut summary = summary_line(a);
    summary.truncate(1000);
    json!({
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": a.alert_id,
        "payload": {
            "summary": summary,
            "source": a.principal.clone().or_else(|| a.accounts.first().cloned()).unwrap_or_else(|| "trailhouse".into()),
            "severity": severity,
            "timestamp": a.first_seen,
            "component": a.rule_id,
            "group": a.accounts.join(","),
            "class": a.tactics.first().map(|t| t.title()),
            "custom_details": a,
        },
    })
}

/// Why one try failed: worth another try (a 5xx, a 429, no answer), or not (a 4xx).
enum Failed {
    Retry(String),
    Final(String),
}

impl From<String> for Failed {
    fn from(e: String) -> Failed {
        Failed::Retry(e)
    }
}

/// `f` up to [`TRIES`] times while it fails retryably, with a backoff of 200 ms, then
/// 400 ms between (the backoff is what the retry waits for, not a synchronisation).
async fn retry<F, Fut, E>(name: &str, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), E>>,
    E: Into<Failed>,
{
    let mut last = String::new();
    for attempt in 0..TRIES {
        match f().await.map_err(Into::into) {
            Ok(()) => return Ok(()),
            Err(Failed::Final(e)) => return Err(RouteError::delivery(name, e)),
            Err(Failed::Retry(e)) => last = e,
        }
        if attempt + 1 < TRIES {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    Err(RouteError::delivery(name, last))
}

/// POSTs `body`, retrying a 5xx, a 429 or an unreachable receiver; a 4xx fails at once.
/// Errors name the destination, never its URL (it may hold a token).
async fn post_json(http: &reqwest::Client, name: &str, url: &str, body: &Value) -> Result<()> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    retry(name, || async {
        match http.post(url).header("content-type", "application/json").body(bytes.clone()).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                Err(Failed::Retry(format!("HTTP {}", r.status())))
            }
            Ok(r) => Err(Failed::Final(format!("HTTP {}", r.status()))),
            Err(e) if e.is_timeout() => Err(Failed::Retry("timed out".into())),
            Err(e) => Err(Failed::Retry(format!("cannot connect: {}", e.without_url()))),
        }
    })
    .await
}

fn append_jsonl(d: &Destination, alerts: &[Alert]) -> std::result::Result<(), String> {
    use std::io::Write;
    let Some(path) = &d.path else { return Err("no path".into()) };
    let mut text = Vec::new();
    for a in alerts {
        serde_json::to_writer(&mut text, &body(d, a)).map_err(|e| e.to_string())?;
        text.push(b'\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.write_all(&text).and_then(|_| f.sync_data()).map_err(|e| format!("cannot append to {}: {e}", path.display()))
}

fn aws_error<E: std::error::Error + 'static>(e: aws_sdk_sns::error::SdkError<E>) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

async fn sns_publish(aws: &AwsClients, d: &Destination, a: &Alert) -> std::result::Result<(), String> {
    let mut subject: String = a.title.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect();
    subject.truncate(100);
    aws.sns
        .publish()
        .topic_arn(d.topic_arn.clone().unwrap_or_default())
        .subject(subject)
        .message(body(d, a).to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(aws_error)
}

async fn eventbridge_put(aws: &AwsClients, d: &Destination, alerts: &[Alert]) -> std::result::Result<(), String> {
    use aws_sdk_eventbridge::types::PutEventsRequestEntry;
    let bus = d.event_bus.clone().unwrap_or_else(|| "default".into());
    let entries: Vec<PutEventsRequestEntry> = alerts
        .iter()
        .map(|a| {
            PutEventsRequestEntry::builder()
                .source("trailhouse")
                .detail_type("trailhouse alert")
                .detail(body(d, a).to_string())
                .event_bus_name(&bus)
                .resources(a.identity.clone().unwrap_or_default())
                .build()
        })
        .collect();
    let out = aws.eventbridge.put_events().set_entries(Some(entries)).send().await.map_err(aws_error)?;
    match out.failed_entry_count() {
        0 => Ok(()),
        n => Err(format!("{n} of {} events refused", alerts.len())),
    }
}

/// ASFF's finding type for a tactic.
fn asff_type(t: Tactic) -> String {
    match t {
        Tactic::Exfiltration => "Effects/Data Exfiltration".into(),
        Tactic::Impact => "Effects/Data Destruction".into(),
        other => format!("TTPs/{}", other.title()),
    }
}

/// An alert as an AWS Security Finding Format finding under `product_arn`.
pub fn asff(a: &Alert, product_arn: &str) -> aws_sdk_securityhub::types::AwsSecurityFinding {
    use aws_sdk_securityhub::types::{AwsSecurityFinding, Resource, SeverityLabel};
    let label = match a.severity {
        Severity::Critical => SeverityLabel::Critical,
        Severity::High => SeverityLabel::High,
        Severity::Medium => SeverityLabel::Medium,
        Severity::Low => SeverityLabel::Low,
        Severity::Info => SeverityLabel::Informational,
    };
    let mut types: Vec<String> = a.tactics.iter().map(|&t| asff_type(t)).collect();
    if types.is_empty() {
        types.push("Unusual Behaviors/User".into());
    }
    let account = a.accounts.first().cloned().unwrap_or_else(|| "000000000000".into());
    let (resource_type, resource_id) = match a.identity.as_deref() {
        Some(arn) if arn.contains(":user/") => ("AwsIamUser", arn.to_string()),
        Some(arn) if arn.contains(":role/") => ("AwsIamRole", arn.to_string()),
        Some(other) => ("Other", other.to_string()),
        None => ("AwsAccount", format!("AWS::::Account:{account}")),
    };
    let mut description = a.triage.trim().to_string();
    if description.is_empty() {
        description = summary_line(a);
    }
    description.truncate(1000);
    AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&a.alert_id)
        .product_arn(product_arn)
        .generator_id(format!("trailhouse/{}", a.rule_id))
        .aws_account_id(account)
        .set_types(Some(types))
        .created_at(&a.first_seen)
        .updated_at(&a.last_seen)
        .first_observed_at(&a.first_seen)
        .last_observed_at(&a.last_seen)
        .severity(aws_sdk_securityhub::types::Severity::builder().label(label).build())
        .title(a.title.chars().take(256).collect::<String>())
        .description(description)
        .resources(
            Resource::builder().r#type(resource_type).id(resource_id).set_region(a.regions.first().cloned()).build(),
        )
        .product_fields("trailhouse/rule_id", &a.rule_id)
        .product_fields("trailhouse/dedup_key", a.dedup_key.chars().take(1000).collect::<String>())
        .build()
}

async fn securityhub_import(aws: &AwsClients, d: &Destination, alerts: &[Alert]) -> std::result::Result<(), String> {
    let product = d
        .product_arn
        .clone()
        .or_else(|| aws.default_product_arn.clone())
        .ok_or("no product_arn and the account could not be found (sts:GetCallerIdentity)")?;
    let findings: Vec<_> = alerts.iter().map(|a| asff(a, &product)).collect();
    let out = aws.securityhub.batch_import_findings().set_findings(Some(findings)).send().await.map_err(aws_error)?;
    match out.failed_count() {
        Some(0) | None => Ok(()),
        Some(n) => Err(format!("{n} of {} findings refused", alerts.len())),
    }
}
