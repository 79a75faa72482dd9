//! `trailhouse ingest`: a backfill from a folder or an S3 prefix (`--source`), or the SQS
//! service (`--queue-url`), into the lake.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ingest::aws::AwsOptions;
use ingest::backfill::{BackfillOptions, Summary, backfill};
use ingest::digest_check::{IntegrityOptions, KeySource};
use ingest::source::Source;
use lake::Lake;

use crate::args::{LakeAccess, TuningArgs};
use crate::progress::{self, Progress};
use crate::signal::wait_for_signal;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["source", "queue_url"])))]
pub struct Args {
    /// Backfill: where the log files are, a local folder (or file) or s3://bucket/prefix.
    #[arg(long, env = "TRAILHOUSE_SOURCE", value_hint = clap::ValueHint::AnyPath)]
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
    /// Backfill: succeed when the source holds no log file (otherwise an empty folder or
    /// prefix fails, and one with no CloudTrail log file exits 2: usually a mistyped path).
    #[arg(long, env = "TRAILHOUSE_ALLOW_EMPTY")]
    pub allow_empty: bool,
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
    /// How long a log file a digest lists may be absent from both the lake and the bucket
    /// before it is recorded `missing` (deleted) and alerted on; until then it is
    /// `pending`. A bucket synced or replayed into a notified one delivers digests before
    /// their logs. A file that lands later with the listed hash turns `valid` either way.
    /// `0s` records them missing at once.
    #[arg(long, env = "TRAILHOUSE_MISSING_AFTER", default_value = "1h", value_name = "DURATION", value_parser = parse_grace)]
    pub missing_after: std::time::Duration,
}

fn parse_grace(s: &str) -> std::result::Result<std::time::Duration, String> {
    lake::time::parse_duration(s)
        .and_then(|us| u64::try_from(us).ok())
        .map(std::time::Duration::from_micros)
        .ok_or_else(|| format!("{s:?} is not a duration such as 0s, 30m, 1h, 1d"))
}

impl IntegrityArgs {
    /// The ingest options these flags give.
    pub fn options(&self, aws: &AwsOptions) -> Result<IntegrityOptions> {
        let keys = key_source(self.public_keys.as_deref())?;
        Ok(IntegrityOptions { enabled: !self.no_integrity, keys, aws: aws.clone(), missing_after: self.missing_after })
    }
}

/// CloudTrail's public keys from a `list-public-keys` file, or ListPublicKeys without one.
pub(crate) fn key_source(public_keys: Option<&std::path::Path>) -> Result<KeySource> {
    Ok(match public_keys {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let keys = integrity::keys::PublicKeys::from_json(&text, &path.display().to_string())?;
            KeySource::File(std::sync::Arc::new(keys))
        }
        None => KeySource::ListPublicKeys,
    })
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
    /// With --once: fail (exit 1) when the queue cannot be reached for this many seconds.
    /// A service without --once keeps retrying with backoff. A queue that does not exist,
    /// refused access or bad credentials fail at once either way.
    #[arg(long, env = "TRAILHOUSE_REACH_TIMEOUT_SECS", default_value_t = 60)]
    pub reach_timeout_secs: u64,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let aws = a.lake.aws();
    let Some(source) = &a.source else {
        return cmd_service(&a, &aws).await;
    };
    // The source first: a mistyped path or prefix, or a bucket that cannot be read, fails
    // before a lake folder is created.
    let location = source;
    let source = Source::parse(location, &aws).await?;
    if !source.has_objects().await? && !a.allow_empty {
        anyhow::bail!(
            "nothing under {location}: check the path or prefix (CloudTrail writes under \
             .../AWSLogs/<account>/CloudTrail/), or pass --allow-empty when an empty source is expected"
        );
    }
    let lake = open_lake(&a).await?;
    let opts = BackfillOptions {
        integrity: a.integrity.options(&aws)?,
        commit_every: a.commit_every,
        ..backfill_options(&a.tuning)
    };
    let shown = Progress::start(if a.json { progress::Mode::Log } else { progress::Mode::Auto }, opts.counters.clone());
    let summary = tokio::select! {
        s = backfill(&lake, &source, &opts) => s,
        () = wait_for_signal() => {
            shown.finish().await;
            let c = opts.counters.snapshot();
            eprintln!(
                "Stopped. Kept {} log files ({} events) in {} commit{}; what was read since the last commit is not \
                 kept. Run the same command again to resume: committed files are skipped.",
                c.files,
                c.events,
                c.commits,
                if c.commits == 1 { "" } else { "s" }
            );
            return Ok(ExitCode::from(crate::exit::Exit::Interrupted));
        }
    };
    shown.finish().await;
    let summary = summary?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary)?;
    }
    let found = summary.files + summary.files_already_ingested + summary.files_quarantined + summary.digests_checked;
    if found == 0 && !a.allow_empty {
        eprintln!(
            "warning: {} objects under {location}, none of them a CloudTrail log file: check the path or prefix \
             (CloudTrail writes under .../AWSLogs/<account>/CloudTrail/), or pass --allow-empty when this is expected",
            summary.objects_listed
        );
        return Ok(ExitCode::from(crate::exit::Exit::NoLogFiles));
    }
    Ok(ExitCode::SUCCESS)
}

async fn open_lake(a: &Args) -> Result<Lake> {
    Lake::open_or_create(a.lake.location(), &a.lake.options(Some(&a.tuning)))
        .await
        .with_context(|| format!("cannot open the lake at {}", a.lake.location()))
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
pub(crate) fn backfill_options(t: &TuningArgs) -> BackfillOptions {
    let defaults = BackfillOptions::default();
    BackfillOptions {
        lanes: t.lanes.unwrap_or(defaults.lanes),
        fetch_concurrency: t.fetch_concurrency,
        batch_rows: t.batch_rows as usize,
        max_inflated: t.max_inflated_mb << 20,
        ..defaults
    }
}

async fn cmd_service(a: &Args, aws: &AwsOptions) -> Result<ExitCode> {
    use ingest::counters::Counters;
    use ingest::sqs::service::{Service, ServiceOptions, bind_metrics};
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
        reach_timeout: std::time::Duration::from_secs(a.service.reach_timeout_secs.max(1)),
        lanes: BackfillOptions { integrity: integrity.clone(), ..backfill_options(&a.tuning) }.lane_options(),
        integrity,
    };
    let metrics = std::sync::Arc::new(Counters::default());
    if let Some(addr) = a.service.metrics_addr {
        tokio::spawn(serve_metrics(bind_metrics(addr).await?, metrics.clone()));
    }
    // The queue first: one that does not exist or cannot be read fails before a lake
    // folder is created.
    ingest::sqs::service::reach_queue(aws, &opts).await?;
    let lake = &open_lake(a).await?;
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
            summary.counts.events,
            summary.counts.files,
            summary.counts.files_quarantined,
            summary.counts.commits,
            summary.counts.messages_deleted,
            summary.counts.messages_unrecognised,
            summary.counts.messages_failed,
            summary.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves the service's counters as Prometheus text at `GET /metrics` on `listener` (from
/// `bind_metrics`), with axum (the HTTP stack the console already brings), until the
/// process ends. Any other path is 404.
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: std::sync::Arc<ingest::counters::Counters>) {
    use axum::http::header::CONTENT_TYPE;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.snapshot().prometheus()) }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("the metrics endpoint stopped: {e}");
    }
}
