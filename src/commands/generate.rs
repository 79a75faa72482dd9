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

pub async fn run(a: Args) -> Result<ExitCode> {
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
