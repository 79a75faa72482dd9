//! `trailhouse ingest`: a backfill from a folder or an S3 prefix (`--source`), or the SQS
//! service (`--queue-url`), into the lake.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ingest::aws::AwsOptions;
use ingest::backfill::{BackfillOptions, Summary, backfill};
use ingest::continuous::{IntegrityOptions, KeySource};
use ingest::source::Source;
use lake::Lake;

use crate::args::{LakeAccess, TuningArgs};
use crate::progress::{self, Progress};
use crate::signal::wait_for_signal;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["source", "queue_url"])))]
pub struct Args {
    /// Backfill: where the log files are, a local folder (or file) or s3://bucket/prefix.
    #[arg(long, env = "TRAILHOUSE_SOURCE")]
    pub source: Option<String>,
    /// Service: the SQS queue announcing new log files (S3 notifications, direct, via SNS
    /// or EventBridge, or CloudTrail's own SNS notification). Runs until SIGTERM/SIGINT.
    #[arg(long, env = "TRAILHOUSE_QUEUE_URL")]
    pub queue_url: Option<String>,
    /// Backfill: commit what has been read so far every this much work (`5m`, `90s`, `1h`)
    /// or data read from the source (`500MB`, `2GB`), or `end` for one commit at the end.
    /// A killed backfill keeps every commit it made, and a rerun skips the log files they
    /// hold without reading them.
    #[arg(long, env = "TRAILHOUSE_COMMIT_EVERY", default_value = "5m", value_name = "PERIOD|SIZE")]
    pub commit_every: ingest::backfill::CommitEvery,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub integrity: IntegrityArgs,
    /// Print the summary as one JSON object on stdout (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// Log file integrity while ingesting.
#[derive(Debug, clap::Args)]
pub struct IntegrityArgs {
    /// CloudTrail's public keys as `aws cloudtrail list-public-keys` prints them. Without
    /// it, digests' signatures are checked with keys from CloudTrail's ListPublicKeys in
    /// each digest's region (cloudtrail:ListPublicKeys).
    #[arg(long, env = "TRAILHOUSE_PUBLIC_KEYS")]
    pub public_keys: Option<std::path::PathBuf>,
    /// Do not check digest files nor hash log files (log file integrity validation is on by
    /// default: each digest is checked as it arrives, see the `integrity` table).
    #[arg(long)]
    pub no_integrity: bool,
}

impl IntegrityArgs {
    /// The ingest options these flags give.
    pub fn options(&self, aws: &AwsOptions) -> Result<IntegrityOptions> {
        let keys = match &self.public_keys {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                let keys = integrity::keys::PublicKeys::from_json(&text, &path.display().to_string())?;
                KeySource::File(std::sync::Arc::new(keys))
            }
            None => KeySource::ListPublicKeys,
        };
        Ok(IntegrityOptions { enabled: !self.no_integrity, keys, aws: aws.clone() })
    }
}

#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// With --queue-url: drain the queue until it is empty, then exit.
    #[arg(long)]
    pub once: bool,
    /// Longest time between lake commits, in seconds.
    #[arg(long, env = "TRAILHOUSE_FLUSH_SECS", default_value_t = 60)]
    pub flush_secs: u64,
    /// Inflated MiB buffered before a commit.
    #[arg(long, env = "TRAILHOUSE_FLUSH_MB", default_value_t = 256)]
    pub flush_mb: u64,
    /// Concurrent SQS long-poll receivers.
    #[arg(long, default_value_t = 2)]
    pub receivers: usize,
    /// Visibility timeout of messages being worked on, in seconds (renewed by a heartbeat).
    #[arg(long, default_value_t = 300)]
    pub visibility_secs: i32,
    /// Serve Prometheus metrics at this address (e.g. 127.0.0.1:9898).
    #[arg(long, env = "TRAILHOUSE_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Seconds between statistics log lines.
    #[arg(long, default_value_t = 60)]
    pub stats_secs: u64,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let aws = a.lake.aws();
    let lake = Lake::open_or_create(a.lake.location(), &a.lake.options(Some(&a.tuning)))
        .await
        .with_context(|| format!("cannot open the lake at {}", a.lake.location()))?;
    let Some(source) = &a.source else {
        return cmd_service(&a, &lake, &aws).await;
    };
    let source = Source::parse(source, &aws).await?;
    let opts = BackfillOptions {
        integrity: a.integrity.options(&aws)?,
        commit_every: a.commit_every,
        ..backfill_options(&a.tuning)
    };
    let shown = Progress::start(if a.json { progress::Mode::Log } else { progress::Mode::Auto }, opts.counters.clone());
    let summary = backfill(&lake, &source, &opts).await;
    shown.finish().await;
    let summary = summary?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A backfill's summary for people (`trailhouse demo` prints it too).
pub fn print_summary(s: &Summary) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Ingested {} into {} (lake version {}):", s.source, s.lake, s.lake_version)?;
    writeln!(
        out,
        "  files      {} ingested, {} already in the lake, {} not log files, {} quarantined",
        s.files, s.files_already_ingested, s.files_not_logs, s.files_quarantined
    )?;
    writeln!(
        out,
        "  events     {} ({} without a parseable eventTime, {} records that were not objects)",
        s.events, s.events_without_time, s.records_not_objects
    )?;
    writeln!(
        out,
        "  bytes      {:.1} MB read, {:.1} MB inflated; {} Parquet files written in {} commit{}",
        s.bytes as f64 / 1e6,
        s.bytes_inflated as f64 / 1e6,
        s.data_files_written,
        s.commits,
        if s.commits == 1 { "" } else { "s" }
    )?;
    if s.digests_checked > 0 {
        writeln!(
            out,
            "  integrity  {} digests checked ({} with a problem); log files: {} valid, {} altered, {} missing, {} still to arrive",
            s.digests_checked, s.digests_with_problems, s.logs_verified, s.logs_altered, s.logs_missing, s.logs_pending
        )?;
    }
    writeln!(out, "  time       {:.2}s, {:.0} events/s", s.seconds, s.events_per_second)?;
    for q in &s.quarantined {
        writeln!(out, "  quarantined {}: {} -> {}", q.source, q.error, q.quarantined_to)?;
    }
    Ok(())
}

/// Backfill options from the tuning flags (the service's lanes take theirs from here too).
fn backfill_options(t: &TuningArgs) -> BackfillOptions {
    let defaults = BackfillOptions::default();
    BackfillOptions {
        lanes: t.lanes.unwrap_or(defaults.lanes),
        fetch_concurrency: t.fetch_concurrency,
        batch_rows: t.batch_rows.map_or(defaults.batch_rows, |b| b as usize),
        max_inflated: t.max_inflated_mb << 20,
        ..defaults
    }
}

async fn cmd_service(a: &Args, lake: &Lake, aws: &AwsOptions) -> Result<ExitCode> {
    use ingest::sqs::service::{Metrics, Service, ServiceOptions, serve_metrics};
    let queue_url = a.queue_url.clone().context("--queue-url is required without --source")?;
    let integrity = a.integrity.options(aws)?;
    let opts = ServiceOptions {
        queue_url,
        receivers: a.service.receivers.max(1),
        download_concurrency: a.tuning.fetch_concurrency.max(1),
        flush_secs: a.service.flush_secs.max(1),
        flush_mb: a.service.flush_mb.max(1),
        visibility_secs: a.service.visibility_secs.clamp(1, 43_200),
        once: a.service.once,
        stats_secs: a.service.stats_secs,
        lanes: BackfillOptions { integrity: integrity.clone(), ..backfill_options(&a.tuning) }.lane_options(),
        integrity,
    };
    let metrics = std::sync::Arc::new(Metrics::default());
    if let Some(addr) = a.service.metrics_addr {
        let m = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_metrics(addr, m).await {
                tracing::error!(error = %e, "Metrics endpoint failed.");
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    let summary = Service::new(lake.clone(), aws, opts, metrics).await.run(stop_rx).await?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "Ingested {} events from {} files ({} quarantined) in {} commits; {} messages deleted, {} not understood, {} failed; {:.1}s.",
            summary.events,
            summary.files,
            summary.files_quarantined,
            summary.commits,
            summary.messages_deleted,
            summary.messages_unrecognised,
            summary.messages_failed,
            summary.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}
