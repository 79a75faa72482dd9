//! `trailhouse import`: history from elsewhere into the lake. Today: CloudTrail Lake's saved
//! query results (`--cloudtrail-lake-export`), so a Lake user brings their events along.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use ingest::backfill::backfill;
use ingest::lake_results::{LakeResults, ResultChecks};
use ingest::source::Source;
use lake::Lake;

use crate::args::{LakeAccess, TuningArgs};
use crate::progress::{self, Progress};

#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
CloudTrail Lake writes a query's saved results as
  <bucket>/[prefix/]AWSLogs/<account>/CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<query id>/
    result_1.csv.gz ... result_N.csv.gz, result_sign.json
Only a query that selected eventJson (or SELECT *) carries whole events: save one per
month, say, from the Lake console or with
  aws cloudtrail start-query --delivery-s3-uri s3://my-bucket/lake-export \\
    --query-statement \"SELECT eventJson FROM <event data store id> WHERE eventTime >= \\
    '2025-01-01 00:00:00' AND eventTime < '2025-02-01 00:00:00'\"
then `aws s3 sync` the folder here (or give the s3:// prefix).

Each result file is checked against result_sign.json (its SHA-256, and the signature with
CloudTrail's public key from ListPublicKeys, or --public-keys) before it is read. A file
that fails, or has no eventJson column, is quarantined with the reason and the rest goes
on; the exit status is then 4. A rerun skips the files already imported, wherever they
are read from.

Examples:
  trailhouse import --cloudtrail-lake-export ./lake-export/
  trailhouse import --cloudtrail-lake-export s3://my-bucket/lake-export/AWSLogs/111122223333/CloudTrail-Lake/Query/")]
pub struct Args {
    /// A folder or s3://bucket/prefix holding CloudTrail Lake's saved query results
    /// (result_N.csv.gz and result_sign.json, at any depth).
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::AnyPath)]
    pub cloudtrail_lake_export: String,
    /// CloudTrail's public keys as `aws cloudtrail list-public-keys` prints them, for the
    /// sign files' signatures (otherwise ListPublicKeys in each sign file's region).
    #[arg(long, env = "TRAILHOUSE_PUBLIC_KEYS")]
    pub public_keys: Option<std::path::PathBuf>,
    /// Import result files that have no result_sign.json beside them (refused by default:
    /// nothing shows they are what CloudTrail Lake wrote).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Do not check result files against their sign files at all.
    #[arg(long, conflicts_with_all = ["public_keys", "allow_unsigned"])]
    pub no_verify: bool,
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub tuning: TuningArgs,
    /// Print the summary as one JSON object on stdout (for scripts).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let aws = a.lake.aws();
    let location = &a.cloudtrail_lake_export;
    let inner = Source::parse(location, &aws).await?;
    if !inner.has_objects().await? {
        anyhow::bail!("nothing under {location}: check the folder or prefix");
    }
    let keys = super::ingest::key_source(a.public_keys.as_deref())?;
    let opts = super::ingest::backfill_options(&a.tuning);
    let checks = ResultChecks { keys, aws: aws.clone(), allow_unsigned: a.allow_unsigned, skip: a.no_verify };
    let source = Source::LakeResults(Arc::new(LakeResults::new(inner, checks, opts.max_inflated)));
    let lake = Lake::open_or_create(a.lake.location(), &a.lake.options(Some(&a.tuning)))
        .await
        .with_context(|| format!("cannot open the lake at {}", a.lake.location()))?;
    let shown = Progress::start(if a.json { progress::Mode::Log } else { progress::Mode::Auto }, opts.counters.clone());
    let summary = backfill(&lake, &source, &opts).await;
    shown.finish().await;
    let summary = summary?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        super::ingest::print_summary(&summary)?;
    }
    if summary.files + summary.files_already_ingested + summary.files_quarantined == 0 {
        anyhow::bail!(
            "no CloudTrail Lake result file (result_N.csv.gz) under {location}: CloudTrail Lake saves them under \
             .../CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<query id>/"
        );
    }
    if summary.files_quarantined > 0 {
        eprintln!(
            "{} result file(s) refused (listed above, kept in the lake's quarantine); the rest was imported.",
            summary.files_quarantined
        );
        return Ok(ExitCode::from(crate::exit::Exit::Problems));
    }
    Ok(ExitCode::SUCCESS)
}
