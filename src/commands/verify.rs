//! `trailhouse verify`: CloudTrail log file integrity over a folder of logs and digests.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use integrity::chain::{ChainReport, DigestObject, Finding, check, totals};
use integrity::folder::{Scope, group};
use integrity::keys::PublicKeys;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trail's bucket (`s3://bucket[/prefix]`, signatures from each digest's
    /// `signature` metadata) or a folder holding a copy of it (`AWSLogs/...`).
    #[arg(long)]
    pub source: String,
    /// While verifying an S3 source, write each digest's signature to
    /// `DIR/<digest key>.signature`, so a copy of the bucket can be verified later, offline.
    #[arg(long, value_name = "DIR")]
    pub save_signatures: Option<PathBuf>,
    /// Endpoint URL for S3 and CloudTrail, for a local server (AWS_ENDPOINT_URL works too).
    /// Public keys are asked for in each chain's own region; `--region` here chooses chains.
    #[arg(long, env = "TRAILHOUSE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// CloudTrail's public keys as `aws cloudtrail list-public-keys` prints them, to verify
    /// offline. Without it they come from CloudTrail's ListPublicKeys in each chain's
    /// region, for the hours its digests cover (a folder without `.signature` sidecars
    /// needs no keys: its signatures cannot be checked).
    #[arg(long)]
    pub public_keys: Option<PathBuf>,
    /// Only this account's chains.
    #[arg(long)]
    pub account: Option<String>,
    /// Only this region's chains (the region in the keys, `.../CloudTrail-Digest/<region>/`).
    #[arg(long)]
    pub region: Option<String>,
    /// Only the hours from this time on (UTC: 2026-11-02 or 2026-11-02T13:00:00Z): digests
    /// of hours ending after it, log files delivered at or after it. A chain's first digest
    /// in range may link to one before it; that is not a gap.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only the hours before this time (UTC), as --since.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// One JSON object per account and region (counts and findings) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let scope = Scope { account: a.account.clone(), region: a.region.clone(), since: a.since, until: a.until };
    if let (Some(s), Some(u)) = (a.since, a.until)
        && s >= u
    {
        bail!("--since must be before --until");
    }
    let aws = ingest::aws::AwsOptions { endpoint_url: a.endpoint_url.clone(), region: None };
    let (listed, s3) = if let Some(rest) = a.source.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let client = aws.s3_client().await;
        (list_s3(&client, bucket, prefix).await?, Some((client, bucket.to_string())))
    } else if a.source.contains("://") {
        bail!("{}: give s3://bucket[/prefix] or a folder", a.source);
    } else {
        let root = PathBuf::from(&a.source);
        if !root.is_dir() {
            bail!("{}: not a folder", a.source);
        }
        (integrity::folder::keys_under(&root).with_context(|| format!("cannot read {}", root.display()))?, None)
    };
    // A folder copy has signatures only where sidecars were kept.
    let signed = s3.is_some() || listed.iter().any(|k| k.ends_with(".json.gz.signature"));
    let chains = group(listed, &scope);
    if chains.is_empty() {
        bail!("{}: no CloudTrail digest or log file found (expected AWSLogs/.../CloudTrail-Digest/...)", a.source);
    }
    let keys = match &a.public_keys {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            PublicKeys::from_json(&text, &path.display().to_string())?
        }
        None if signed => fetch_public_keys(&aws, &chains).await?,
        None => PublicKeys::default(),
    };
    let reports = match s3 {
        Some((client, bucket)) => verify_s3(&a, &client, &bucket, chains, keys).await?,
        None => {
            let root = PathBuf::from(&a.source);
            tokio::task::spawn_blocking(move || integrity::folder::verify_chains(&root, chains, &keys)).await?
        }
    };
    let problems = print_reports(&reports, if a.json { Shown::Json } else { Shown::Every })?;
    Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(4) })
}

/// CloudTrail's public keys from `ListPublicKeys` in each chain's region, valid at some
/// time from its oldest digest's hour until now.
async fn fetch_public_keys(
    aws: &ingest::aws::AwsOptions,
    chains: &std::collections::BTreeMap<(String, String), integrity::folder::ChainKeys>,
) -> Result<PublicKeys> {
    // Each region's oldest digest hour, until now (not the newest digest's hour: a backfill
    // digest is signed with the key valid when it was written, long after its hour).
    let mut oldest: std::collections::BTreeMap<&str, i64> = Default::default();
    for ((_, region), (digests, _)) in chains {
        for t in digests.iter().filter_map(|k| integrity::chain::key_epoch(k)) {
            let e = oldest.entry(region.as_str()).or_insert(t - 3600);
            *e = (*e).min(t - 3600);
        }
    }
    let end = lake::time::now_micros() / 1_000_000;
    let mut keys = PublicKeys::default();
    for (region, start) in oldest {
        let list = aws.list_public_keys(region, start, end).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot fetch CloudTrail's public keys: {e}. Allow cloudtrail:ListPublicKeys, or give --public-keys FILE \
                 (what `aws cloudtrail list-public-keys --region {region}` prints) to verify offline"
            )
        })?;
        tracing::info!(region, keys = list.public_key_list.len(), "public keys from ListPublicKeys");
        keys.merge(PublicKeys::from_list(&list, &format!("ListPublicKeys in {region}"))?);
    }
    Ok(keys)
}

/// Every key under an S3 prefix.
async fn list_s3(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut listed = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!("s3://{bucket}/{prefix}: ListObjectsV2: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
        })?;
        listed.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
    }
    Ok(listed)
}

/// How [`print_reports`] shows reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// A line per account and region, its findings under it, a summary.
    Every,
    /// Only the chains with findings, and the summary.
    Problems,
    /// One JSON object per account and region.
    Json,
}

/// Prints reports to stdout; returns the number of problems found.
pub fn print_reports(reports: &[ChainReport], shown: Shown) -> Result<usize> {
    for r in reports {
        if shown == Shown::Json {
            println!("{}", serde_json::to_string(r)?);
            continue;
        }
        if shown == Shown::Problems && r.is_clean() {
            continue;
        }
        println!(
            "{} {}: {} digests ({} valid{}), {} log files valid, {} altered, {} missing, {} unlisted, {} gaps",
            r.account,
            r.region,
            r.digests_checked,
            r.digests_valid,
            if r.signatures_unchecked > 0 {
                format!(", {} without a signature to check", r.signatures_unchecked)
            } else {
                String::new()
            },
            r.logs_valid,
            r.logs_altered,
            r.logs_missing,
            r.logs_unlisted,
            r.gaps
        );
        for f in &r.findings {
            println!("  {}", describe(f));
        }
    }
    let t = totals(reports);
    let problems = t.get("problems").copied().unwrap_or(0);
    if shown != Shown::Json {
        let unchecked = t.get("signatures_unchecked").copied().unwrap_or(0);
        if unchecked > 0 {
            println!("Signatures not checked for {unchecked} digests (no .signature sidecar).");
        }
        let count = |k: &str| t.get(k).copied().unwrap_or(0);
        println!(
            "{} chains, {} digests ({} valid), {} log files valid: {}",
            reports.len(),
            count("digests_checked"),
            count("digests_valid"),
            count("logs_valid"),
            if problems == 0 { "all valid.".to_string() } else { format!("{problems} problems.") }
        );
    }
    Ok(problems)
}

/// Every chain under an S3 prefix: digests with their `signature` metadata, log files
/// fetched as the checker asks for them.
async fn verify_s3(
    a: &Args,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    chains: std::collections::BTreeMap<(String, String), integrity::folder::ChainKeys>,
    keys: PublicKeys,
) -> Result<Vec<ChainReport>> {
    let keys = std::sync::Arc::new(keys);
    let mut reports = Vec::new();
    for ((account, region), (digest_keys, logs)) in chains {
        let mut digests = Vec::with_capacity(digest_keys.len());
        for key in digest_keys {
            let out = s3.get_object().bucket(bucket).key(&key).send().await.map_err(|e| {
                anyhow::anyhow!("s3://{bucket}/{key}: GetObject: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
            })?;
            let signature = out.metadata().and_then(|m| m.get("signature")).cloned();
            let gz = out.body.collect().await.with_context(|| format!("s3://{bucket}/{key}"))?.into_bytes().to_vec();
            if let (Some(dir), Some(sig)) = (&a.save_signatures, &signature) {
                let path = dir.join(format!("{key}.signature"));
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
                }
                std::fs::write(&path, sig).with_context(|| format!("cannot write {}", path.display()))?;
            }
            digests.push(DigestObject { bucket: Some(bucket.to_string()), key, gz, signature });
        }
        let (client, bucket, keys) = (s3.clone(), bucket.to_string(), keys.clone());
        let handle = tokio::runtime::Handle::current();
        let report = tokio::task::spawn_blocking(move || {
            let mut failures = Vec::new();
            let mut fetch = |key: &str| -> Option<Vec<u8>> {
                match handle.block_on(ingest::source::fetch_s3(&client, &bucket, key)) {
                    Ok(b) => Some(b.to_vec()),
                    Err(e) if e.to_string().contains("NoSuchKey") => None,
                    Err(e) => {
                        failures.push(e.to_string());
                        None
                    }
                }
            };
            let report = check(&account, &region, digests, &keys, &mut fetch, &logs);
            (report, failures)
        })
        .await?;
        if let Some(first) = report.1.first() {
            bail!("{first} ({} log files could not be read)", report.1.len());
        }
        reports.push(report.0);
    }
    Ok(reports)
}

fn describe(f: &Finding) -> String {
    match f {
        Finding::DigestUnreadable { key, message } => format!("digest {key}: unreadable: {message}"),
        Finding::DigestMoved { key, names } => format!("digest {key}: moved (it names {names})"),
        Finding::InvalidSignature { key } => format!("digest {key}: INVALID signature"),
        Finding::SignatureNotHex { key } => format!("digest {key}: its signature is not hex"),
        Finding::UnknownKey { key, fingerprint } => {
            format!("digest {key}: no public key with fingerprint {fingerprint} (--public-keys)")
        }
        Finding::DigestAltered { key, next } => {
            format!("digest {key}: altered (its hash or signature is not what {next} links)")
        }
        Finding::DigestMissing { key, referenced_by } => format!("digest {key}: MISSING (linked from {referenced_by})"),
        Finding::ChainGap { after, before, hours, restarted } => format!(
            "gap: {hours} hour(s) without a digest between {after} and {before}{}",
            if *restarted { "; the chain restarts (logging or validation was stopped)" } else { "" }
        ),
        Finding::LogAltered { key, digest } => format!("log {key}: ALTERED (hash differs from {digest})"),
        Finding::LogMissing { key, digest } => format!("log {key}: MISSING (listed in {digest})"),
        Finding::LogUnreadable { key, digest, message } => {
            format!("log {key}: not gzip ({message}; listed in {digest})")
        }
        Finding::LogUnlisted { key } => format!("log {key}: in no digest"),
    }
}

/// `--since` / `--until`: a day or a UTC time, as seconds since the epoch.
fn parse_time(s: &str) -> std::result::Result<i64, String> {
    let text = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() };
    lake::time::parse_canonical(&text)
        .or_else(|| lake::time::parse_lenient(&text))
        .map(|micros| micros.div_euclid(1_000_000))
        .ok_or_else(|| format!("{s:?} is not a day (2026-11-02) or a UTC time (2026-11-02T13:00:00Z)"))
}
