//! `trailhouse demo`: sample logs generated, ingested into ./lake, shown, and the
//! detection pack run over them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use detections::run::Scope;
use detections::sink::Sinks;
use ingest::aws::AwsOptions;
use ingest::backfill::{BackfillOptions, backfill};
use ingest::source::Source;
use lake::{Lake, LakeOptions};
use sample_logs::{GenerateOptions, generate};

use crate::args::{LakeArgs, lake_options};
use crate::commands::ingest::print_summary;
use crate::progress::{self, Progress};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Where the sample logs are generated.
    #[arg(long, default_value = "sample-logs/generated")]
    pub logs: PathBuf,
    /// Events to generate.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    // The digests' public keys are written last: a folder without them is (re)generated.
    let marker = a.logs.join("public-keys.json");
    if !marker.exists() {
        let opts = GenerateOptions {
            out: a.logs.clone(),
            events: a.events,
            accounts: 3,
            days: 2,
            digests: true,
            ..Default::default()
        };
        println!("Generating {} sample events under {} ...", a.events, a.logs.display());
        let s = tokio::task::spawn_blocking(move || generate(&opts)).await??;
        println!("  {} files, {} events ({} planted suspicious ones).", s.files, s.events, s.planted);
    } else {
        println!("Using the sample logs already under {}.", a.logs.display());
    }
    let aws = AwsOptions::default();
    let lake = Lake::open_or_create(&a.lake.lake, &lake_options(None, &aws)).await?;
    let source = Source::parse(&a.logs.display().to_string(), &aws).await?;
    // The digests are signed with the generator's key, not CloudTrail's: check them with it.
    let text = std::fs::read_to_string(&marker)?;
    let keys = integrity::keys::PublicKeys::from_json(&text, &marker.display().to_string())?;
    let checks = ingest::digest_check::IntegrityOptions {
        keys: ingest::digest_check::KeySource::File(std::sync::Arc::new(keys)),
        // The whole copy is here: a listed file it lacks was deleted, not late.
        missing_after: std::time::Duration::ZERO,
        ..Default::default()
    };
    let opts = BackfillOptions { integrity: checks, ..Default::default() };
    let shown = Progress::start(progress::Mode::Auto, opts.counters.clone());
    let summary = backfill(&lake, &source, &opts).await;
    shown.finish().await;
    let summary = summary?;
    print_summary(&summary)?;

    let session = query::LakeSession::open(&a.lake.lake, &LakeOptions::default()).await?;
    let show = |title: &'static str, sql: &'static str| (title, sql);
    for (title, sql) in [
        show(
            "What is in the lake",
            "SELECT count(*) AS events, count(DISTINCT recipientaccountid) AS accounts, count(DISTINCT awsregion) AS regions, min(eventtime) AS first_event, max(eventtime) AS last_event FROM cloudtrail",
        ),
        show(
            "Events per day",
            "SELECT eventdate, count(*) AS events FROM cloudtrail GROUP BY eventdate ORDER BY eventdate",
        ),
        show(
            "Top services",
            "SELECT eventsource, count(*) AS events FROM cloudtrail GROUP BY eventsource ORDER BY events DESC LIMIT 8",
        ),
        show(
            "Who acts (userIdentity.type)",
            "SELECT coalesce(useridentity.type, '(none: a service acting)') AS identity_type, count(*) AS events FROM cloudtrail GROUP BY 1 ORDER BY events DESC",
        ),
        show(
            "Root activity and console logins without MFA",
            "SELECT eventtime, recipientaccountid, eventname, useridentity.type AS who, sourceipaddress FROM cloudtrail WHERE (useridentity.type = 'Root' AND useridentity.invokedby IS NULL AND eventtype <> 'AwsServiceEvent') OR (eventname = 'ConsoleLogin' AND additionaleventdata LIKE '%\"MFAUsed\":\"No\"%') ORDER BY eventtime LIMIT 10",
        ),
    ] {
        println!("\n{title}:");
        match session.sql(sql).await {
            Ok(batches) => println!("{}", query::pretty(&batches)?),
            Err(e) => println!("  (query failed: {e})"),
        }
    }
    detect(&a.lake.lake).await?;
    integrity(&a.logs).await?;
    println!("\nQuery it yourself: trailhouse sql \"SELECT ...\" (see README).");
    println!("Look at it in the browser: trailhouse serve (then open http://127.0.0.1:8080/).");
    Ok(ExitCode::SUCCESS)
}

/// The demo's detection step: an incremental run of the built-in pack, recorded in the
/// lake (no sink but the lake), then every alert the lake holds.
async fn detect(lake_location: &str) -> Result<()> {
    let options = lake_options(None, &AwsOptions::default());
    let lake = Lake::open_existing(lake_location, &options).await?;
    let rules = detections::pack::builtin()?;
    let summary = detections::run::run(&lake, &rules, Scope::Incremental).await?;
    Sinks::default().deliver_then_record(&lake, &summary).await?;
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
            println!(
                "Details: trailhouse sql \"SELECT * FROM alerts ORDER BY first_seen\"; new alerts every 5 minutes: trailhouse detect --every 5m"
            );
        }
        Ok(_) => println!("No alerts in the lake."),
        Err(e) => bail!("cannot read the alerts table: {e}"),
    }
    Ok(())
}

/// The demo's integrity step: `verify` over the sample logs (clean), then over a copy an
/// attacker has been at (`generate --tamper`), each tampering reported with its key.
async fn integrity(logs: &std::path::Path) -> Result<()> {
    use crate::commands::verify::{Shown, print_reports};
    let check = |root: PathBuf| async move {
        let text = std::fs::read_to_string(root.join("public-keys.json"))?;
        let keys = integrity::keys::PublicKeys::from_json(&text, "public-keys.json")?;
        let scope = integrity::folder::Scope::default();
        anyhow::Ok(tokio::task::spawn_blocking(move || integrity::folder::verify_folder(&root, &keys, &scope)).await??)
    };
    println!("\nLog file integrity: trailhouse verify --source {0} --public-keys {0}/public-keys.json", logs.display());
    let reports = check(logs.to_path_buf()).await?;
    print_reports(&reports, Shown::Problems)?;
    let tampered = logs
        .with_file_name(format!("{}-tampered", logs.file_name().map_or("generated".into(), |n| n.to_string_lossy())));
    if !tampered.join("public-keys.json").exists() {
        let opts = GenerateOptions {
            out: tampered.clone(),
            events: 5_000,
            accounts: 2,
            days: 1,
            tamper: true,
            digests: true,
            ..Default::default()
        };
        tokio::task::spawn_blocking(move || generate(&opts)).await??;
    }
    println!(
        "\nThe same check over a copy an attacker has been at (generate --tamper; {}/planted.tsv lists what was done):",
        tampered.display()
    );
    let reports = check(tampered).await?;
    print_reports(&reports, Shown::Problems)?;
    Ok(())
}
