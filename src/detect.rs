//! `trailhouse rules` and `trailhouse detect`: the detection pack from the command line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use detections::alert::{Alert, post_webhook, summary_line};
use detections::rule::Rule;
use detections::run::{RunSummary, Scope};
use ingest::lake::Lake;

use crate::cli::{AwsArgs, LakeArgs, lake_options};

/// Exit status of `detect` when a run raised new alerts (0: none, 1: an error).
pub const EXIT_ALERTS: u8 = 3;

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules: id, severity, kind (match, threshold, stateful), title.
    List {
        #[command(flatten)]
        pack: PackArgs,
        /// One JSON object per rule (id, title, severity, mitre, controls, ...).
        #[arg(long)]
        json: bool,
    },
    /// Run the rules' embedded tests through the real decode -> Arrow -> DataFusion path.
    ///
    /// Exits 1 if any test fails. Example: trailhouse rules test root-console-login
    #[command(verbatim_doc_comment)]
    Test {
        #[command(flatten)]
        pack: PackArgs,
        /// Only these rules [default: all].
        ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A folder of rule files (*.toml) instead of the built-in pack.
    #[arg(long, env = "TRAILHOUSE_RULES")]
    pub rules: Option<PathBuf>,
}

impl PackArgs {
    fn load(&self, ids: &[String]) -> Result<Vec<Rule>> {
        let rules = match &self.rules {
            Some(dir) => detections::pack::load_dir(dir)?,
            None => detections::pack::builtin()?,
        };
        Ok(detections::pack::select(rules, ids)?)
    }
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub pack: PackArgs,
    /// Only this rule (repeatable) [default: the whole pack].
    #[arg(long = "rule", value_name = "ID")]
    pub only: Vec<String>,
    /// Look at events from this long ago until now (e.g. 24h, 7d) instead of what was
    /// committed since the last run; does not move the watermark.
    #[arg(long, conflicts_with = "all")]
    pub since: Option<String>,
    /// Look at every event in the lake (moves the watermark to the latest version).
    #[arg(long)]
    pub all: bool,
    /// Keep running, one incremental run every DURATION (e.g. 5m), until SIGTERM/SIGINT.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["since", "all"])]
    pub every: Option<String>,
    /// Alerts on stdout as a table or one JSON object per line
    /// [default: table on a terminal, ndjson when piped].
    #[arg(long, value_parser = ["table", "ndjson"])]
    pub format: Option<String>,
    /// Also append each alert as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Also POST each alert to this webhook (Slack incoming webhook or any JSON receiver).
    #[arg(long, env = "TRAILHOUSE_WEBHOOK_URL", hide_env_values = true, value_name = "URL")]
    pub webhook: Option<String>,
    /// Evaluate and print, but write nothing to the lake (no alerts table, no watermark).
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn cmd_rules(a: RulesArgs) -> Result<ExitCode> {
    match a.command {
        RulesCommand::List { pack, json } => {
            let rules = pack.load(&[])?;
            let mut out = std::io::stdout().lock();
            for r in &rules {
                if json {
                    let v = serde_json::json!({
                        "id": r.id, "title": r.title, "severity": r.severity, "kind": kind(r),
                        "description": r.description.trim(), "triage": r.triage.trim(), "mitre": r.mitre,
                        "controls": r.controls, "references": r.references, "dedup_key": r.dedup.key,
                        "dedup_window": r.dedup.window, "lookback": r.lookback, "tests": r.tests.len(),
                    });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{:<40} {:<8} {:<9} {}", r.id, r.severity.as_str(), kind(r), r.title)?;
                }
            }
            if !json {
                writeln!(out, "\n{} rules. `trailhouse rules test [ID...]` runs their tests.", rules.len())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test { pack, ids } => {
            let rules = pack.load(&ids)?;
            let (mut passed, mut failed) = (0usize, 0usize);
            let mut out = std::io::stdout().lock();
            for r in &rules {
                let outcomes = detections::testing::test_rule(r).await?;
                let bad: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
                passed += outcomes.len() - bad.len();
                failed += bad.len();
                if bad.is_empty() {
                    writeln!(out, "ok    {:<40} {} tests", r.id, outcomes.len())?;
                }
                for o in bad {
                    writeln!(out, "FAIL  {:<40} {}: {}", r.id, o.test, o.message)?;
                }
            }
            writeln!(out, "\n{} rules, {passed} tests passed, {failed} failed.", rules.len())?;
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn kind(r: &Rule) -> &'static str {
    match (r.threshold.is_some(), r.is_stateful()) {
        (_, true) => "stateful",
        (true, false) => "threshold",
        (false, false) => "match",
    }
}

pub async fn cmd_detect(a: DetectArgs) -> Result<ExitCode> {
    let aws = a.aws.options();
    let rules = a.pack.load(&a.only)?;
    let lake = Lake::open_existing(&a.lake.lake, &lake_options(None, &aws))
        .await
        .with_context(|| format!("cannot open the lake at {} (fill it with `trailhouse ingest` first)", a.lake.lake))?;
    let scope = match (&a.since, a.all) {
        (Some(s), _) => Scope::Since(query::export::parse_duration(s).with_context(|| format!("--since {s:?}: use e.g. 30m, 24h, 7d"))?),
        (None, true) => Scope::All,
        (None, false) => Scope::Incremental,
    };
    let format = match a.format.as_deref() {
        Some("ndjson") => Format::Ndjson,
        Some(_) => Format::Table,
        None if std::io::stdout().is_terminal() => Format::Table,
        None => Format::Ndjson,
    };
    let Some(every) = &a.every else {
        let summary = run_once(&lake, &rules, scope, &a, format).await?;
        return Ok(if summary.alerts.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_ALERTS) });
    };
    let period = query::export::parse_duration(every)
        .filter(|m| *m >= 1_000_000)
        .with_context(|| format!("--every {every:?}: use e.g. 1m, 5m, 1h (at least 1s)"))?;
    let mut ticks = tokio::time::interval(Duration::from_micros(period as u64));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = crate::cli::wait_for_signal();
    tokio::pin!(stop);
    tracing::info!(rules = rules.len(), every = %every, "Detections scheduled; incremental runs until SIGTERM/SIGINT.");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        // A failed run (lake unreachable, a webhook down) is logged and retried on the next
        // tick: the watermark did not move, so nothing is skipped.
        if let Err(e) = run_once(&lake, &rules, scope, &a, format).await {
            tracing::error!(error = format!("{e:#}"), "Detection run failed; retrying on the next tick.");
        }
    }
    tracing::info!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Ndjson,
}

/// One run: evaluate, deliver to every sink, then record in the lake. Delivery comes
/// first so a failed delivery (or a crash) leaves the watermark where it was and the next
/// run raises the same alerts again, with the same ids: at least once, never lost.
async fn run_once(lake: &Lake, rules: &[Rule], scope: Scope, a: &DetectArgs, format: Format) -> Result<RunSummary> {
    let summary = detections::run::run(lake, rules, scope).await?;
    print_alerts(&summary, format)?;
    if let Some(path) = &a.jsonl {
        append_jsonl(path, &summary.alerts)?;
    }
    if let Some(url) = &a.webhook {
        post_webhook(url, &summary.alerts).await?;
    }
    if !a.dry_run {
        detections::run::record(lake, &summary).await?;
    }
    let versions = match summary.from_version {
        Some(v) if summary.scope == "incremental" && v >= summary.to_version => format!("no commits since version {v}"),
        Some(v) if summary.scope == "incremental" => format!("versions {}..={}", v + 1, summary.to_version),
        _ => format!("up to version {}", summary.to_version),
    };
    tracing::info!(
        "{} rules over {} data files ({}, {}): {} new alert(s), {} already known; {:.2}s{}.",
        summary.rules,
        summary.data_files,
        summary.scope,
        versions,
        summary.alerts.len(),
        summary.duplicates,
        summary.seconds,
        if a.dry_run { " (dry run: nothing recorded)" } else { "" }
    );
    Ok(summary)
}

fn print_alerts(summary: &RunSummary, format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Ndjson => out.write_all(&json_lines(&summary.alerts)?)?,
        Format::Table if summary.alerts.is_empty() => writeln!(out, "No new alerts.")?,
        Format::Table => {
            writeln!(out, "{}", detections::alert::table(&summary.alerts)?)?;
            for alert in &summary.alerts {
                writeln!(out, "{}", summary_line(alert))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn append_jsonl(path: &std::path::Path, alerts: &[Alert]) -> Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    let text = json_lines(alerts)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.write_all(&text).with_context(|| format!("cannot append to {}", path.display()))?;
    file.sync_data().with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(())
}

/// One JSON object per alert, one per line.
fn json_lines(alerts: &[Alert]) -> Result<Vec<u8>> {
    let mut text = Vec::new();
    for alert in alerts {
        serde_json::to_writer(&mut text, alert)?;
        text.push(b'\n');
    }
    Ok(text)
}

/// `trailhouse demo`'s detection step: an incremental run of the built-in pack, recorded in
/// the lake, then every alert the lake holds.
pub async fn demo(lake_location: &str) -> Result<()> {
    let options = lake_options(None, &ingest::aws::AwsOptions::default());
    let lake = Lake::open_existing(lake_location, &options).await?;
    let rules = detections::pack::builtin()?;
    let summary = detections::run::run(&lake, &rules, Scope::Incremental).await?;
    detections::run::record(&lake, &summary).await?;
    println!(
        "\nDetections: {} rules over {} new data files: {} new alert(s) in {:.1}s.",
        summary.rules,
        summary.data_files,
        summary.alerts.len(),
        summary.seconds
    );
    let session = query::LakeSession::open(lake_location, &options).await?;
    let sql = "SELECT severity, rule_id, count(*) AS alerts, min(first_seen) AS first_seen FROM alerts \
               GROUP BY severity, rule_id \
               ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, alerts DESC";
    match session.sql(sql).await {
        Ok(batches) if batches.iter().any(|b| b.num_rows() > 0) => {
            println!("Alerts in the lake, by rule:\n{}", query::pretty(&batches)?);
            println!("Details: trailhouse sql \"SELECT * FROM alerts ORDER BY first_seen\"; new alerts every 5 minutes: trailhouse detect --every 5m");
        }
        Ok(_) => println!("No alerts in the lake."),
        Err(e) => bail!("cannot read the alerts table: {e}"),
    }
    Ok(())
}
