//! Command-line interface: argument parsing and the commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ingest::aws::AwsOptions;
use ingest::backfill::{BackfillOptions, Progress, Summary, backfill};
use ingest::generate::{GenerateOptions, generate};
use ingest::lake::{Lake, LakeOptions};
use ingest::source::Source;

/// CloudTrail logs into a Delta Lake you can query with SQL and run detections over.
///
/// Start with `trailhouse demo`: it generates sample logs, ingests them into ./lake and
/// shows what is there.
#[derive(Debug, Parser)]
#[command(name = "trailhouse", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); TRAILHOUSE_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate realistic synthetic CloudTrail logs in the real S3 key layout.
    Generate(GenerateArgs),
    /// Ingest log files from a local folder or an S3 prefix into the lake.
    Ingest(IngestArgs),
    /// Generate sample logs, ingest them into ./lake, show what is in the lake and run the
    /// detection pack over it.
    Demo(DemoArgs),
    /// SQL over the lake: one statement, a file of them, or an interactive prompt.
    ///
    /// Tables: cloudtrail (one row per event, Athena's column names), ingested_files (the
    /// ledger); views: actors, console_logins, source_ips, cloudtrail_logs. Functions:
    /// Athena's json_extract_scalar / json_extract / json_array_length /
    /// from_iso8601_timestamp, cidr_match, is_private_ip, arn_account, arn_resource,
    /// principal, and datafusion-functions-json (json_get_str, ->>, ...).
    ///
    /// Examples:
    ///   trailhouse sql "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 2 DESC"
    ///   trailhouse sql -f hunt.sql --format csv --output hunt.csv
    ///   trailhouse sql "COPY (SELECT * FROM cloudtrail WHERE errorcode IS NOT NULL) TO 'errors/' STORED AS PARQUET PARTITIONED BY (eventdate)"
    ///   trailhouse sql            (the prompt; \? for help)
    #[command(verbatim_doc_comment)]
    Sql(SqlArgs),
    /// Export a slice of the lake as partitioned zstd Parquet (for BI tools, Spark, DuckDB).
    ///
    /// Example:
    ///   trailhouse export --since 7d --where "eventsource = 'iam.amazonaws.com'" --to ./iam-week/
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Compact small files (Delta OPTIMIZE) and delete unreferenced ones (VACUUM).
    Compact(CompactArgs),
    /// The detection rules: list them, run their embedded tests.
    Rules(crate::detect::RulesArgs),
    /// Run the detection pack over the lake; alerts to stdout, a JSONL file, a webhook and
    /// the lake's `alerts` table.
    ///
    /// By default a run is incremental: it reads only data committed since the previous run
    /// (the watermark is a Delta version kept in the lake's `detection_runs` table), plus
    /// each rule's lookback for thresholds and baselines.
    ///
    /// Exit status: 0 no new alerts, 3 new alerts, 1 error.
    ///
    /// Examples:
    ///   trailhouse detect                                  (new data since the last run)
    ///   trailhouse detect --all --dry-run                  (everything, record nothing)
    ///   trailhouse detect --since 24h --rule root-console-login
    ///   trailhouse detect --every 5m --jsonl alerts.jsonl --webhook https://hooks.slack.com/...
    #[command(verbatim_doc_comment)]
    Detect(crate::detect::DetectArgs),
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Target size of compacted files, in MiB.
    #[arg(long, default_value_t = 256)]
    pub target_file_mb: u64,
    /// Keep unreferenced files younger than this many hours (time travel, running writers).
    #[arg(long, default_value_t = 168)]
    pub retention_hours: i64,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The statement(s), e.g. "SELECT eventname, count(*) FROM cloudtrail GROUP BY 1".
    /// Without a query or --file: the interactive prompt (or SQL read from a piped stdin).
    #[arg(conflicts_with = "file")]
    pub query: Option<String>,
    /// Run the statements in this file (`;`-separated).
    #[arg(short, long)]
    pub file: Option<PathBuf>,
    /// Output format [default: table on a terminal, ndjson when piped or with --output].
    #[arg(long, value_parser = ["table", "csv", "json", "ndjson", "parquet"])]
    pub format: Option<String>,
    /// Write the result to this file instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The interactive prompt even when stdin is not a terminal (commands read line by line).
    #[arg(short, long, conflicts_with_all = ["query", "file"])]
    pub interactive: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Where to write: a local folder or s3://bucket/prefix.
    #[arg(long)]
    pub to: String,
    /// A SQL condition over cloudtrail, e.g. "recipientaccountid = '111122223333'".
    #[arg(long = "where")]
    pub filter: Option<String>,
    /// Start (inclusive): 2026-11-02, 2026-11-02T10:00:00Z, or an age like 24h, 7d.
    #[arg(long)]
    pub since: Option<String>,
    /// End (exclusive), same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// Columns to export (SQL select list) [default: all].
    #[arg(long)]
    pub columns: Option<String>,
    /// Hive-style partition columns, comma-separated; "none" for a flat folder.
    #[arg(long, default_value = "eventdate")]
    pub partition_by: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake: a local folder or s3://bucket/prefix.
    #[arg(long, env = "TRAILHOUSE_LAKE", default_value = "./lake")]
    pub lake: String,
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// S3/SQS endpoint URL, for a local server (AWS_ENDPOINT_URL works too); implies
    /// path-style S3 addressing.
    #[arg(long, env = "TRAILHOUSE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: the SDK's chain, else us-east-1).
    #[arg(long, env = "TRAILHOUSE_REGION")]
    pub region: Option<String>,
}

impl AwsArgs {
    pub(crate) fn options(&self) -> AwsOptions {
        AwsOptions { endpoint_url: self.endpoint_url.clone(), region: self.region.clone() }
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of events (a few planted suspicious events come on top).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Number of AWS accounts.
    #[arg(long, default_value_t = 2)]
    pub accounts: u32,
    /// Number of days, starting 2026-11-02 (UTC).
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Single-account key layout instead of the organization-trail layout.
    #[arg(long)]
    pub single_account_layout: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["source", "queue_url"])))]
pub struct IngestArgs {
    /// Backfill: where the log files are, a local folder (or file) or s3://bucket/prefix.
    #[arg(long, env = "TRAILHOUSE_SOURCE")]
    pub source: Option<String>,
    /// Service: the SQS queue announcing new log files (S3 notifications, direct, via SNS
    /// or EventBridge, or CloudTrail's own SNS notification). Runs until SIGTERM/SIGINT.
    #[arg(long, env = "TRAILHOUSE_QUEUE_URL")]
    pub queue_url: Option<String>,
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Print the summary as one JSON object on stdout (for scripts).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
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

#[derive(Debug, Args)]
pub struct TuningArgs {
    /// Decode/encode threads (default: the number of cores).
    #[arg(long, env = "TRAILHOUSE_LANES")]
    pub lanes: Option<usize>,
    /// Objects downloaded at once.
    #[arg(long, default_value_t = 32)]
    pub fetch_concurrency: usize,
    /// Largest accepted file after inflating, in MiB (bigger files are quarantined).
    #[arg(long, default_value_t = 1024)]
    pub max_inflated_mb: usize,
    /// Target Parquet file size, in MiB.
    #[arg(long, default_value_t = 128)]
    pub target_file_mb: u64,
    /// zstd compression level of the Parquet files (1-22).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
    /// Events decoded into one Arrow batch before it is encoded (default: the library's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_rows: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Where the sample logs are generated.
    #[arg(long, default_value = "sample-logs/generated")]
    pub logs: PathBuf,
    /// Events to generate.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Generate(a) => cmd_generate(a).await,
        Command::Ingest(a) => cmd_ingest(a).await,
        Command::Demo(a) => cmd_demo(a).await,
        Command::Sql(a) => cmd_sql(a).await,
        Command::Compact(a) => cmd_compact(a).await,
        Command::Export(a) => cmd_export(a).await,
        Command::Rules(a) => crate::detect::cmd_rules(a).await,
        Command::Detect(a) => crate::detect::cmd_detect(a).await,
    }
}

async fn cmd_generate(a: GenerateArgs) -> Result<ExitCode> {
    let opts = GenerateOptions {
        out: a.out.clone(),
        events: a.events,
        accounts: a.accounts,
        days: a.days,
        seed: a.seed,
        org_trail: !a.single_account_layout,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let s = tokio::task::spawn_blocking(move || generate(&opts)).await??;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "Generated {} events ({} planted) in {} files, {:.1} MB, under {} in {:.1}s.",
            s.events,
            s.planted,
            s.files,
            s.bytes as f64 / 1e6,
            a.out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn lake_options(tuning: Option<&TuningArgs>, aws: &AwsOptions) -> LakeOptions {
    let mut o = LakeOptions { storage_options: aws.lake_storage_options(), ..Default::default() };
    if let Some(t) = tuning {
        o.target_file_bytes = t.target_file_mb << 20;
        o.zstd_level = t.zstd_level;
    }
    o
}

async fn cmd_ingest(a: IngestArgs) -> Result<ExitCode> {
    let aws = a.aws.options();
    let lake = Lake::open_or_create(&a.lake.lake, &lake_options(Some(&a.tuning), &aws))
        .await
        .with_context(|| format!("cannot open the lake at {}", a.lake.lake))?;
    let Some(source) = &a.source else {
        return cmd_service(&a, &lake, &aws).await;
    };
    let source = Source::parse(source, &aws).await?;
    let opts = BackfillOptions { progress: if a.json { Progress::Log } else { Progress::Auto }, ..backfill_options(&a.tuning) };
    let summary = backfill(&lake, &source, &opts).await?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &Summary) -> Result<()> {
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
        "  bytes      {:.1} MB read, {:.1} MB inflated; {} Parquet files written",
        s.bytes as f64 / 1e6,
        s.bytes_inflated as f64 / 1e6,
        s.data_files_written
    )?;
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

async fn cmd_service(a: &IngestArgs, lake: &Lake, aws: &AwsOptions) -> Result<ExitCode> {
    use ingest::sqs::service::{Metrics, ServiceOptions, run_service, serve_metrics};
    let queue_url = a.queue_url.clone().context("--queue-url is required without --source")?;
    let opts = ServiceOptions {
        queue_url,
        receivers: a.service.receivers.max(1),
        download_concurrency: a.tuning.fetch_concurrency.max(1),
        flush_secs: a.service.flush_secs.max(1),
        flush_mb: a.service.flush_mb.max(1),
        visibility_secs: a.service.visibility_secs.clamp(1, 43_200),
        once: a.service.once,
        stats_secs: a.service.stats_secs,
        lanes: backfill_options(&a.tuning).lane_options(),
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
    let summary = run_service(lake, aws, &opts, metrics, stop_rx).await?;
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

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn cmd_compact(a: CompactArgs) -> Result<ExitCode> {
    let aws = a.aws.options();
    let lake = Lake::open_existing(&a.lake.lake, &lake_options(None, &aws)).await?;
    let s = lake.compact(a.target_file_mb << 20, a.retention_hours).await?;
    println!(
        "Compacted {}: {} small files into {}; {} unreferenced files vacuumed.",
        a.lake.lake, s.files_removed, s.files_added, s.files_vacuumed
    );
    Ok(ExitCode::SUCCESS)
}

async fn cmd_sql(a: SqlArgs) -> Result<ExitCode> {
    use std::io::{IsTerminal, Read};
    let aws = a.aws.options();
    let session = query::LakeSession::open(&a.lake.lake, &lake_options(None, &aws)).await?;
    let sql = match (&a.query, &a.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        (None, None) if a.interactive || std::io::stdin().is_terminal() => {
            let mut options = query::repl::ReplOptions::default();
            if let Some(f) = &a.format {
                options.format = f.parse()?;
            }
            query::repl::run(&session, options).await?;
            return Ok(ExitCode::SUCCESS);
        }
        (None, None) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read SQL from stdin")?;
            text
        }
    };
    if session.is_empty() {
        eprintln!(
            "note: the lake at {} holds no events yet; fill it with `trailhouse ingest --source DIR|s3://...` or `trailhouse demo`.",
            a.lake.lake
        );
    }
    let to_terminal = a.output.is_none() && std::io::stdout().is_terminal();
    let format: query::output::Format = match &a.format {
        Some(f) => f.parse()?,
        None if to_terminal => query::output::Format::Table,
        None => query::output::Format::Ndjson,
    };
    if format == query::output::Format::Parquet && to_terminal {
        anyhow::bail!("Parquet is binary: add --output FILE or pipe stdout to a file");
    }
    let outcomes = match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            query::run::run_script(&session, &sql, format, &mut out).await?
        }
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
            query::run::run_script(&session, &sql, format, &mut out).await?
        }
    };
    for o in &outcomes {
        if let Some(note) = &o.note {
            eprintln!("{note}");
        }
    }
    if let Some(path) = &a.output {
        let rows: u64 = outcomes.iter().map(|o| o.rows).sum();
        eprintln!("Wrote {rows} rows to {}.", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn cmd_export(a: ExportArgs) -> Result<ExitCode> {
    let aws = a.aws.options();
    let session = query::LakeSession::open(&a.lake.lake, &lake_options(None, &aws)).await?;
    let partition_by = match a.partition_by.trim() {
        "" | "none" => vec![],
        list => list.split(',').map(|c| c.trim().to_string()).collect(),
    };
    let options = query::export::ExportOptions {
        filter: a.filter.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        columns: a.columns.clone(),
        to: a.to.clone(),
        partition_by,
        storage_options: aws.lake_storage_options(),
    };
    let s = query::export::export(&session, &options).await?;
    if a.json {
        let v = serde_json::json!({"rows": s.rows, "seconds": s.seconds, "to": a.to, "sql": s.sql});
        println!("{v}");
    } else {
        println!("Exported {} rows to {} in {:.2} s ({}).", s.rows, a.to, s.seconds, s.sql);
    }
    Ok(ExitCode::SUCCESS)
}

async fn cmd_demo(a: DemoArgs) -> Result<ExitCode> {
    let marker = a.logs.join("planted.tsv");
    if !marker.exists() {
        let opts = GenerateOptions { out: a.logs.clone(), events: a.events, accounts: 3, days: 2, ..Default::default() };
        println!("Generating {} sample events under {} ...", a.events, a.logs.display());
        let s = tokio::task::spawn_blocking(move || generate(&opts)).await??;
        println!("  {} files, {} events ({} planted suspicious ones).", s.files, s.events, s.planted);
    } else {
        println!("Using the sample logs already under {}.", a.logs.display());
    }
    let aws = AwsOptions::default();
    let lake = Lake::open_or_create(&a.lake.lake, &lake_options(None, &aws)).await?;
    let source = Source::parse(&a.logs.display().to_string(), &aws).await?;
    let summary = backfill(&lake, &source, &BackfillOptions { progress: Progress::Auto, ..Default::default() }).await?;
    print_summary(&summary)?;

    let session = query::LakeSession::open(&a.lake.lake, &LakeOptions::default()).await?;
    let show = |title: &'static str, sql: &'static str| (title, sql);
    for (title, sql) in [
        show("What is in the lake", "SELECT count(*) AS events, count(DISTINCT recipientaccountid) AS accounts, count(DISTINCT awsregion) AS regions, min(eventtime) AS first_event, max(eventtime) AS last_event FROM cloudtrail"),
        show("Events per day", "SELECT eventdate, count(*) AS events FROM cloudtrail GROUP BY eventdate ORDER BY eventdate"),
        show("Top services", "SELECT eventsource, count(*) AS events FROM cloudtrail GROUP BY eventsource ORDER BY events DESC LIMIT 8"),
        show("Who acts (userIdentity.type)", "SELECT coalesce(useridentity.type, '(none: a service acting)') AS identity_type, count(*) AS events FROM cloudtrail GROUP BY 1 ORDER BY events DESC"),
        show("Root activity and console logins without MFA", "SELECT eventtime, recipientaccountid, eventname, useridentity.type AS who, sourceipaddress FROM cloudtrail WHERE (useridentity.type = 'Root' AND useridentity.invokedby IS NULL AND eventtype <> 'AwsServiceEvent') OR (eventname = 'ConsoleLogin' AND additionaleventdata LIKE '%\"MFAUsed\":\"No\"%') ORDER BY eventtime LIMIT 10"),
    ] {
        println!("\n{title}:");
        match session.sql(sql).await {
            Ok(batches) => println!("{}", query::pretty(&batches)?),
            Err(e) => println!("  (query failed: {e})"),
        }
    }
    crate::detect::demo(&a.lake.lake).await?;
    println!("\nQuery it yourself: trailhouse sql \"SELECT ...\" (see README).");
    Ok(ExitCode::SUCCESS)
}
