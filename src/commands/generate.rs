//! `trailhouse generate`: synthetic CloudTrail logs in the real S3 key layout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use sample_logs::{GenerateOptions, generate};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of events (a few planted suspicious events come on top).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Number of AWS accounts.
    #[arg(long, default_value_t = 2)]
    pub accounts: u32,
    /// Number of days, from --start.
    #[arg(long, default_value_t = 1, conflicts_with = "minutes")]
    pub days: u32,
    /// Only this many minutes of logs from --start (rounded up to CloudTrail's 5-minute
    /// deliveries): the new data of one scheduled run.
    #[arg(long)]
    pub minutes: Option<u32>,
    /// When the logs start (UTC): a day (2026-11-02) or a time on a 5-minute boundary
    /// (2026-11-09T12:00:00Z).
    #[arg(long, default_value = "2026-11-02", value_parser = parse_start)]
    pub start: i64,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write CloudTrail's hourly digest files (log file integrity), signed with a key
    /// made for this run: its public half in OUT/public-keys.json (as `aws cloudtrail
    /// list-public-keys` prints it), each signature in a `<digest>.signature` sidecar.
    /// Check them with `trailhouse verify --source OUT --public-keys OUT/public-keys.json`.
    #[arg(long)]
    pub digests: bool,
    /// Also tamper with the result, as an attacker who reached the bucket would (implies
    /// --digests): one log file edited, one deleted, one added, one digest deleted (a broken
    /// chain), each in its own account/region chain and listed in planted.tsv (scenario
    /// `tamper-*`, the key in the `key` column). `trailhouse verify` reports each.
    #[arg(long)]
    pub tamper: bool,
    /// The bucket the digests name as theirs (verify reports a digest found in another
    /// bucket as moved): the bucket you will upload the corpus to.
    #[arg(long, default_value = "trailhouse-generated")]
    pub bucket: String,
    /// Routine traffic only: leave the planted suspicious scenarios out (planted.tsv is then
    /// empty). What a detection pack should stay quiet on: `trailhouse detect --all` over
    /// it measures the pack's noise (benches/detect.sh prints it per rule).
    #[arg(long)]
    pub no_planted: bool,
    /// Traffic skewed as an organization's is: account k carries 1/k of the first's share,
    /// a few people and roles make most calls, a role's sessions reuse a few names. What
    /// benches/scale.sh generates, so the hourly rollup is measured where it pays.
    #[arg(long)]
    pub skew: bool,
    /// Draw the accounts (ids, addresses) and the organization id from this seed instead of
    /// --seed: parts of one corpus generated with different seeds share their accounts.
    #[arg(long)]
    pub accounts_seed: Option<u64>,
    /// Single-account key layout instead of the organization-trail layout.
    #[arg(long)]
    pub single_account_layout: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let opts = GenerateOptions {
        out: a.out.clone(),
        events: a.events,
        accounts: a.accounts,
        days: a.days,
        minutes: a.minutes,
        start_day: a.start.div_euclid(86_400),
        start_minute: (a.start.rem_euclid(86_400) / 60) as u32,
        seed: a.seed,
        org_trail: !a.single_account_layout,
        digests: a.digests || a.tamper,
        tamper: a.tamper,
        bucket: a.bucket.clone(),
        planted: !a.no_planted,
        skew: a.skew,
        accounts_seed: a.accounts_seed,
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
        if s.tampered > 0 {
            println!("Tampered with {} objects (planted.tsv lists them).", s.tampered);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--start`: a day or a UTC time, as seconds since the epoch.
fn parse_start(s: &str) -> std::result::Result<i64, String> {
    let text = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() };
    let micros = lake::time::parse_canonical(&text)
        .or_else(|| lake::time::parse_lenient(&text))
        .ok_or_else(|| format!("{s:?} is not a day (2026-11-02) or a UTC time (2026-11-09T12:00:00Z)"))?;
    let secs = micros.div_euclid(1_000_000);
    if secs.rem_euclid(300) != 0 {
        return Err(format!("{s:?} is not on a 5-minute boundary (CloudTrail delivers every 5 minutes)"));
    }
    Ok(secs)
}
