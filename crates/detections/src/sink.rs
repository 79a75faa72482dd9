//! Where alerts go, and the order that makes their delivery at least once.
//!
//! A run's alerts go to every configured sink first (the terminal, a JSONL file, a
//! webhook) and only then is the run recorded in the lake (its alerts in `alerts`, its
//! watermark in `detection_runs`). A failed delivery, or a crash before the record, leaves
//! the watermark where it was: the next run raises the same alerts again, with the same
//! ids. At least once, never lost. [`Sinks::deliver_then_record`] is the one place that
//! order is written.
//!
//! ```no_run
//! # async fn f(lake: &lake::Lake, rules: &[detections::rule::Rule]) -> detections::Result<()> {
//! use detections::run::{Scope, run};
//! use detections::sink::{PrintFormat, Printer, Sinks};
//! let sinks = Sinks {
//!     print: Some(Printer::stdout(PrintFormat::Ndjson)),
//!     jsonl: Some("alerts.jsonl".into()),
//!     ..Sinks::default()
//! };
//! let summary = run(lake, rules, Scope::Incremental).await?;
//! sinks.deliver_then_record(lake, &summary).await?;
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lake::Lake;

use crate::alert::{Alert, join_or, summary_line, table};
use crate::error::{DetectError, Result};
use crate::run::{RunSummary, record};

/// Where a run's alerts go, and whether the run is recorded. Every sink is optional; the
/// default delivers nowhere and records the run.
#[derive(Default)]
pub struct Sinks {
    /// The terminal: each run's alerts as a table or JSON lines.
    pub print: Option<Printer>,
    /// Append each alert as one JSON line to this file (synced before the run is recorded).
    pub jsonl: Option<PathBuf>,
    /// POST each alert to this URL (a Slack incoming webhook or any JSON receiver). A secret:
    /// errors and `Debug` show only its scheme and host.
    pub webhook: Option<String>,
    /// Deliver, but record nothing in the lake (no alerts table, no watermark).
    pub dry_run: bool,
    /// Also print the alerts an exception suppressed or a shadow rule raised (marked); they
    /// still go to no other sink.
    pub show_suppressed: bool,
}

impl Sinks {
    /// Delivers `summary`'s alerts to every sink (terminal, JSONL file, webhook, in that
    /// order), then records the run in `lake` unless this is a dry run.
    ///
    /// The order is the guarantee: a sink that fails stops here with the run unrecorded, so
    /// the next run raises the same alerts again (same ids) instead of losing them. A sink
    /// may see an alert twice (after a failure further down the list); the lake never does.
    pub async fn deliver_then_record(&self, lake: &Lake, summary: &RunSummary) -> Result<()> {
        self.deliver(&summary.alerts).await?;
        if !self.dry_run {
            record(lake, summary).await?;
        }
        Ok(())
    }

    async fn deliver(&self, all: &[Alert]) -> Result<()> {
        // An alert an exception suppressed, or a shadow rule's, is recorded, never delivered.
        let alerts: Vec<Alert> = all.iter().filter(|a| a.delivered()).cloned().collect();
        let alerts = alerts.as_slice();
        if let Some(printer) = &self.print {
            printer.print(if self.show_suppressed { all } else { alerts })?;
        }
        if let Some(path) = &self.jsonl {
            append_jsonl(path, alerts)?;
        }
        if let Some(url) = &self.webhook {
            post_webhook(url, alerts).await?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("print", &self.print)
            .field("jsonl", &self.jsonl)
            .field("webhook", &self.webhook.as_deref().map(redact))
            .field("dry_run", &self.dry_run)
            .field("show_suppressed", &self.show_suppressed)
            .finish()
    }
}

/// How the terminal sink prints alerts. The doc comments of the variants are the command
/// line's help for each value (`clap::ValueEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintFormat {
    /// A table and one line per alert ("No new alerts." when there are none).
    Table,
    /// One JSON object per alert, one per line (nothing when there are none).
    Ndjson,
    /// One OCSF Detection Finding (class 2004) per alert, one per line.
    Ocsf,
}

/// The terminal sink: alerts written to a writer (stdout for the command line) and flushed.
pub struct Printer {
    format: PrintFormat,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Printer {
    pub fn new(format: PrintFormat, out: impl Write + Send + 'static) -> Printer {
        Printer { format, out: Mutex::new(Box::new(out)) }
    }

    /// Prints to stdout.
    pub fn stdout(format: PrintFormat) -> Printer {
        Printer::new(format, std::io::stdout())
    }

    pub fn format(&self) -> PrintFormat {
        self.format
    }

    /// Writes `alerts` in this printer's format and flushes.
    pub fn print(&self, alerts: &[Alert]) -> Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let io = |source| DetectError::Output { context: "cannot print the alerts".into(), source };
        match self.format {
            PrintFormat::Ndjson => out.write_all(&json_lines(alerts).map_err(io)?).map_err(io)?,
            PrintFormat::Ocsf => {
                for a in alerts {
                    writeln!(out, "{}", crate::ocsf::alert_finding(a)).map_err(io)?;
                }
            }
            PrintFormat::Table if alerts.is_empty() => writeln!(out, "No new alerts.").map_err(io)?,
            PrintFormat::Table => {
                writeln!(out, "{}", table(alerts)?).map_err(io)?;
                for alert in alerts {
                    writeln!(out, "{}", summary_line(alert)).map_err(io)?;
                }
            }
        }
        out.flush().map_err(io)
    }
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer").field("format", &self.format).finish_non_exhaustive()
    }
}

/// Appends one JSON line per alert to `path` and syncs it (nothing to do without alerts).
fn append_jsonl(path: &Path, alerts: &[Alert]) -> Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    let failed = |what: &str| {
        let context = format!("{what} {}", path.display());
        move |source| DetectError::Output { context, source }
    };
    let text = json_lines(alerts).map_err(failed("cannot write alerts for"))?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(failed("cannot open"))?;
    file.write_all(&text).map_err(failed("cannot append to"))?;
    file.sync_data().map_err(failed("cannot sync"))?;
    Ok(())
}

/// One JSON object per alert, one per line.
fn json_lines(alerts: &[Alert]) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::new();
    for alert in alerts {
        serde_json::to_writer(&mut text, alert)?;
        text.push(b'\n');
    }
    Ok(text)
}

/// A Slack-compatible webhook body (`text` + `blocks`), with the whole alert under
/// `trailhouse_alert` for other receivers.
pub fn webhook_body(a: &Alert) -> serde_json::Value {
    let mut lines = vec![
        format!("*{}* ({}), rule `{}`", a.title, a.severity, a.rule_id),
        format!("*Who:* {}  *From:* {}", a.principal.as_deref().unwrap_or("?"), join_or(&a.source_ips, "?")),
        format!("*Account:* {}  *Region:* {}", join_or(&a.accounts, "?"), join_or(&a.regions, "?")),
        format!("*When:* {} .. {} ({} events)", a.first_seen, a.last_seen, a.events),
        format!("*Events:* {}", a.event_ids.join(", ")),
    ];
    if !a.details.is_empty() {
        lines.push(format!("*Details:* {}", serde_json::Value::Object(a.details.clone())));
    }
    lines.push(format!("*Check first:* {}", a.triage.trim()));
    serde_json::json!({
        "text": summary_line(a),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}}],
        "trailhouse_alert": a,
    })
}

/// Posts each alert to a webhook (Slack incoming webhook or any JSON receiver), retrying a
/// 5xx, a 429 or an unreachable receiver twice.
///
/// A failed request says why (`error sending request` alone does not): its innermost
/// cause, such as `Connection refused (os error 111)` or a DNS or TLS failure.
pub async fn post_webhook(url: &str, alerts: &[Alert]) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DetectError::Webhook { url: redact(url), message: e.to_string() })?;
    for a in alerts {
        let body = serde_json::to_vec(&webhook_body(a)).unwrap_or_default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = client.post(url).header("content-type", "application/json").body(body.clone()).send().await;
            match sent {
                Ok(r) if r.status().is_success() => break,
                Ok(r) if attempt < 3 && (r.status().is_server_error() || r.status().as_u16() == 429) => {}
                Ok(r) => {
                    return Err(DetectError::Webhook { url: redact(url), message: format!("HTTP {}", r.status()) });
                }
                Err(_) if attempt < 3 => {}
                Err(e) => return Err(DetectError::Webhook { url: redact(url), message: request_failure(e) }),
            }
            // Backoff before retrying a 5xx/429/unreachable receiver (400 ms, then 800 ms);
            // not synchronisation: nothing waits on this but the retry itself.
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    Ok(())
}

/// A webhook URL is a secret (Slack's carries its token in the path): keep scheme and host.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/...", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(invalid URL)".into(),
    }
}

/// What a request that got no response met: reqwest's summary, then its innermost cause
/// (the URL is left out: it may hold a token).
fn request_failure(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut cause: &(dyn std::error::Error + 'static) = &e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let root = cause.to_string();
    if root == e.to_string() { format!("{kind}: {root}") } else { format!("{kind}: {root} ({e})") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Severity;

    fn alert(id: &str) -> Alert {
        Alert {
            alert_id: id.into(),
            rule_id: "root-console-login".into(),
            title: "Root console login".into(),
            severity: Severity::High,
            dedup_key: "principal=root".into(),
            principal: Some("root".into()),
            identity: Some("arn:aws:iam::111122223333:root".into()),
            source_ips: vec!["198.51.100.7".into()],
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into()],
            event_names: vec!["ConsoleLogin".into()],
            user_agents: vec![],
            event_ids: vec!["e1".into()],
            events: 1,
            first_seen: "2026-11-02T10:00:00Z".into(),
            last_seen: "2026-11-02T10:00:00Z".into(),
            first_seen_micros: 0,
            last_seen_micros: 0,
            details: serde_json::Map::new(),
            mitre: vec![],
            tactics: vec![],
            controls: vec![],
            triage: "Check who.".into(),
            references: vec![],
            author: None,
            license: None,
            suppressed_by: None,
            shadow: false,
        }
    }

    /// A writer whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
        }
    }

    #[test]
    fn ndjson_printer_writes_one_alert_per_line_with_lowercase_severity() {
        let out = Shared::default();
        Printer::new(PrintFormat::Ndjson, out.clone()).print(&[alert("a"), alert("b")]).unwrap();
        let lines: Vec<serde_json::Value> = out.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["alert_id"], "a");
        assert_eq!(lines[0]["severity"], "high");
    }

    #[test]
    fn table_printer_says_so_when_there_is_nothing_new() {
        let out = Shared::default();
        Printer::new(PrintFormat::Table, out.clone()).print(&[]).unwrap();
        assert_eq!(out.text(), "No new alerts.\n");
        Printer::new(PrintFormat::Table, out.clone()).print(&[alert("a")]).unwrap();
        assert!(out.text().contains("[HIGH] Root console login - root from 198.51.100.7"), "{}", out.text());
    }

    #[test]
    fn jsonl_sink_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        append_jsonl(&path, &[alert("a")]).unwrap();
        append_jsonl(&path, &[]).unwrap();
        append_jsonl(&path, &[alert("b")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn an_unwritable_jsonl_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir/alerts.jsonl");
        let e = append_jsonl(&path, &[alert("a")]).unwrap_err();
        assert!(e.to_string().starts_with("cannot open ") && e.to_string().contains("no-such-dir"), "{e}");
    }

    #[test]
    fn debug_hides_the_webhook_token() {
        let sinks = Sinks { webhook: Some("https://hooks.slack.com/services/T0/B0/SECRET".into()), ..Sinks::default() };
        let text = format!("{sinks:?}");
        assert!(!text.contains("SECRET") && text.contains("hooks.slack.com"), "{text}");
    }
}
