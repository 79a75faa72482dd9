//! `trailhouse verify`: CloudTrail log file integrity over a folder of logs and digests.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use integrity::chain::{Finding, totals};
use integrity::folder::{Scope, verify_folder};
use integrity::keys::PublicKeys;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder holding a copy of the trail's bucket (`AWSLogs/...`).
    #[arg(long)]
    pub source: String,
    /// CloudTrail's public keys as `aws cloudtrail list-public-keys` prints them.
    #[arg(long)]
    pub public_keys: Option<PathBuf>,
    /// Only this account's chains.
    #[arg(long)]
    pub account: Option<String>,
    /// Only this region's chains.
    #[arg(long)]
    pub region: Option<String>,
    /// One JSON object per account and region (counts and findings) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    if a.source.contains("://") {
        bail!(
            "{}: only folders can be verified so far; copy the bucket with `aws s3 sync` and write each \
             digest's signature metadata beside it as <digest>.signature",
            a.source
        );
    }
    let keys = match &a.public_keys {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            PublicKeys::from_json(&text, &path.display().to_string())?
        }
        None => PublicKeys::default(),
    };
    let root = PathBuf::from(&a.source);
    if !root.is_dir() {
        bail!("{}: not a folder", a.source);
    }
    let scope = Scope { account: a.account.clone(), region: a.region.clone() };
    let reports = tokio::task::spawn_blocking(move || verify_folder(&root, &keys, &scope)).await??;
    if reports.is_empty() {
        bail!("{}: no CloudTrail digest or log file found (expected AWSLogs/.../CloudTrail-Digest/...)", a.source);
    }
    for r in &reports {
        if a.json {
            println!("{}", serde_json::to_string(r)?);
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
    let t = totals(&reports);
    let problems = t.get("problems").copied().unwrap_or(0);
    if !a.json {
        let unchecked = t.get("signatures_unchecked").copied().unwrap_or(0);
        if unchecked > 0 {
            println!("Signatures not checked for {unchecked} digests (no .signature sidecar).");
        }
        println!("{}", if problems == 0 { "All valid.".to_string() } else { format!("{problems} problems.") });
    }
    Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(4) })
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
