//! `trailhouse detect`: the detection pack over the lake, once or every period, alerts
//! delivered to the configured sinks before the run is recorded.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use detections::rule::Rule;
use detections::run::{RunOptions, RunSummary, Scope};
use detections::sink::{PrintFormat, Printer, Sinks};
use lake::Lake;

use crate::args::{ClusterArgs, DurationArg, LakeAccess, PackArgs, age, period};
use crate::signal::wait_for_signal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub pack: PackArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Only this rule (repeatable) [default: the whole pack].
    #[arg(long = "rule", value_name = "ID")]
    pub only: Vec<String>,
    /// Look at events from this long ago until now (e.g. 24h, 7d) instead of what was
    /// committed since the last run; does not move the watermark.
    #[arg(long, conflicts_with = "all", value_parser = age)]
    pub since: Option<DurationArg>,
    /// Look at every event in the lake (moves the watermark to the latest version).
    #[arg(long)]
    pub all: bool,
    /// Keep running, one incremental run every DURATION (e.g. 5m), until SIGTERM/SIGINT.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["since", "all"], value_parser = period)]
    pub every: Option<DurationArg>,
    /// Alerts on stdout as a table or one JSON object per line
    /// [default: table on a terminal, ndjson when piped].
    #[arg(long, value_enum)]
    pub format: Option<PrintFormat>,
    /// Also append each alert as one JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Also POST each alert to this webhook (Slack incoming webhook or any JSON receiver).
    #[arg(long, env = "TRAILHOUSE_WEBHOOK_URL", hide_env_values = true, value_name = "URL")]
    pub webhook: Option<String>,
    /// Evaluate and print, but write nothing to the lake (no alerts table, no watermark).
    #[arg(long)]
    pub dry_run: bool,
    /// Also print the alerts an exception suppressed (`trailhouse exceptions`) or a shadow
    /// rule raised (`mode = "shadow"` in [rule_settings]), marked; they are recorded but
    /// never delivered to --jsonl or --webhook.
    #[arg(long)]
    pub show_suppressed: bool,
    /// Alerts about one identity (a role with its sessions, a user with its keys) less than
    /// this far apart are one incident in the lake's `incidents` table; an incident whose
    /// ATT&CK tactics progress raises `incident-attack-sequence`.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = period)]
    pub incident_window: DurationArg,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let rules = a.pack.load_tuned(&a.only, &a.lake.aws()).await?;
    // Destinations from the settings file, checked before anything runs.
    let destinations = match crate::settings::config_file() {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the settings file {}", path.display()))?;
            route::config::parse(&text, &path.display().to_string())?
        }
        None => vec![],
    };
    let router = if destinations.is_empty() || a.dry_run {
        None
    } else {
        Some(route::Router::new(destinations, &a.lake.aws().sdk_config().await).await?)
    };
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await.with_context(|| {
        format!("cannot open the lake at {} (fill it with `trailhouse ingest` first)", a.lake.location())
    })?;
    let scope = match (&a.since, a.all) {
        (Some(since), _) => Scope::Since(since.micros),
        (None, true) => Scope::All,
        (None, false) => Scope::Incremental,
    };
    let format = match a.format {
        Some(f) => f,
        None if std::io::stdout().is_terminal() => PrintFormat::Table,
        None => PrintFormat::Ndjson,
    };
    let sinks = Sinks {
        print: Some(Printer::stdout(format)),
        jsonl: a.jsonl.clone(),
        webhook: a.webhook.clone(),
        dry_run: a.dry_run,
        show_suppressed: a.show_suppressed,
    };
    let options = RunOptions { incident_window_micros: a.incident_window.micros, ..RunOptions::default() };
    let Some(every) = &a.every else {
        let summary =
            run_once(&lake, &rules, scope, &sinks, (&a.cluster, &a.lake.aws()), &options, router.as_ref()).await?;
        let delivered = summary.alerts.iter().filter(|a| a.delivered()).count();
        return Ok(if delivered == 0 { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::Exit::Alerts) });
    };
    let mut ticks = tokio::time::interval(Duration::from_micros(every.micros as u64));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = wait_for_signal();
    tokio::pin!(stop);
    tracing::info!(rules = rules.len(), every = %every, "Detections scheduled; incremental runs until SIGTERM/SIGINT.");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        // A failed run (lake unreachable, a webhook down) is logged and retried on the next
        // tick: the watermark did not move, so nothing is skipped.
        if let Err(e) =
            run_once(&lake, &rules, scope, &sinks, (&a.cluster, &a.lake.aws()), &options, router.as_ref()).await
        {
            tracing::error!(error = crate::one_line(&e), "Detection run failed; retrying on the next tick.");
        }
    }
    tracing::info!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

/// One run: evaluate, then deliver to every sink and record in the lake (in that order:
/// [`Sinks::deliver_then_record`]), then log what it did.
async fn run_once(
    lake: &Lake,
    rules: &[Rule],
    scope: Scope,
    sinks: &Sinks,
    // Where queries run, and the AWS settings (an `organizations` account source's).
    on: (&ClusterArgs, &ingest::aws::AwsOptions),
    options: &RunOptions,
    router: Option<&route::Router>,
) -> Result<RunSummary> {
    let context = on.0.context(on.1).await?;
    // Said once per process: a rule that uses an IP file the settings do not name.
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        if let Some(line) = detections::pack::ip_file_fallbacks(rules, enrich::installed()) {
            tracing::info!("{line}");
        }
    });
    let summary = detections::run::run_in(context, lake, rules, scope, options).await?;
    // The routing outbox's pending rows first, then the run's record, then the deliveries:
    // a crash anywhere leaves each (alert, destination) pending, never lost.
    if let Some(r) = router {
        r.enqueue(lake, &summary.alerts).await?;
    }
    sinks.deliver_then_record(lake, &summary).await?;
    if let Some(r) = router {
        let f = r.flush(lake).await?;
        if !f.delivered.is_empty() || !f.failed.is_empty() || f.resolved > 0 {
            let show = |m: &std::collections::BTreeMap<String, usize>| {
                m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
            };
            tracing::info!(
                delivered = %show(&f.delivered),
                failed = %show(&f.failed),
                resolved = f.resolved,
                "Routed alerts to their destinations."
            );
        }
    }
    let incremental = summary.scope == Scope::Incremental;
    let versions = match summary.from_version {
        Some(v) if incremental && v >= summary.to_version => format!("no commits since version {v}"),
        Some(v) if incremental => format!("versions {}..={}", v + 1, summary.to_version),
        _ => format!("up to version {}", summary.to_version),
    };
    let incidents = &summary.incidents.incidents;
    let sequences = summary.alerts.iter().filter(|a| a.rule_id == detections::incident::SEQUENCE_RULE).count();
    tracing::info!(
        "{} rules over {} data files ({}, {}): {} new alert(s), {} suppressed by exceptions, {} from shadow \
         rules, {} already known; {} incident(s) updated ({} attack sequence(s)); {:.2}s{}.",
        summary.rules,
        summary.data_files,
        summary.scope,
        versions,
        summary.alerts.iter().filter(|a| a.delivered()).count(),
        summary.suppressed,
        summary.shadow,
        summary.duplicates,
        incidents.len(),
        sequences,
        summary.seconds,
        if sinks.dry_run { " (dry run: nothing recorded)" } else { "" }
    );
    Ok(summary)
}
