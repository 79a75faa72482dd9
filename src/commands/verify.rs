//! `trailhouse verify`: CloudTrail log file integrity over a folder of logs and digests.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use integrity::chain::{Chain, ChainReport, DigestObject, Finding, Uncovered, UncoveredPolicy, check, totals};
use integrity::folder::{ChainKeys, Scope, group};
use integrity::keys::PublicKeys;

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The trail's bucket (`s3://bucket[/prefix]`, signatures from each digest's
    /// `signature` metadata) or a folder holding a copy of it (`AWSLogs/...`).
    #[arg(long)]
    pub source: String,
    /// While verifying an S3 source, write each digest's signature to
    /// `DIR/<digest key>.signature`, so a copy of the bucket can be verified later, offline.
    #[arg(long, value_name = "DIR")]
    pub save_signatures: Option<PathBuf>,
    #[command(flatten)]
    pub aws: crate::args::AwsArgs,
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
    /// (`--region` is the AWS region of the S3 client, as for every command; public keys
    /// are asked for in each chain's own region.)
    #[arg(long, value_name = "REGION")]
    pub chain_region: Option<String>,
    /// Only the hours from this time on (UTC: 2026-11-02 or 2026-11-02T13:00:00Z): digests
    /// of hours ending after it, log files delivered at or after it. A chain's first digest
    /// in range may link to one before it; that is not a gap.
    #[arg(long, value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only the hours before this time (UTC), as --since.
    #[arg(long, value_parser = parse_time)]
    pub until: Option<i64>,
    /// Log files no digest covers delivered before this time (UTC, as --since) are counted
    /// as accepted, not failures: e.g. before log file validation was turned on. Files a
    /// digest's hour covers but that it does not list are never accepted.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub accept_uncovered_before: Option<i64>,
    /// Log files no digest covers delivered at or after this time (UTC) are counted as
    /// accepted, not failures: e.g. after validation was turned off, knowingly.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub accept_uncovered_after: Option<i64>,
    /// One JSON object per account and region (counts and findings) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `verify --help`'s last words: log files no digest covers, and the exit status.
const AFTER_HELP: &str = "\
Log files no digest lists:
  In an hour the chain's digests cover (or, by their links, should: a deleted digest's
  hour), such a file is `log_unlisted`: a forgery, or a digest lost it. Anywhere else no
  digest covers it and it is `log_uncovered`: nothing vouches for it, which proves nothing
  either way. Its reason is `before_first_digest`, `between_digests` (logging or validation
  was stopped), `after_last_digest`, or `no_digests` (its account/region has no digest in
  the store at all; also one `chain_without_digests` finding with the count and the first
  and last file). The text names up to 10 per account/region; --json lists every one.
  Not failures, counted per account/region:
    not_yet_covered     delivered after the chain's newest digest ends, by less than 2
                        hours, and less than 2 hours before the store was read (S3: now; a
                        folder: an hour after its newest digest of any account/region):
                        digests are hourly, so a live trail's newest hour is in none yet.
    uncovered_accepted  uncovered, delivered before --accept-uncovered-before or from
                        --accept-uncovered-after.
  --since/--until choose the files checked; whether a file is covered is judged against
  all of its account/region's digests in the store.

Exit status:
  0  all valid (not yet covered and accepted files are counted, not failures)
  4  a problem: a digest, signature, link, hour or log file is wrong; or, failing that,
     log files no digest covers (--json's `problem` tells which)
  1  an error: nothing could be checked
  2  bad arguments";

pub async fn run(a: Args) -> Result<ExitCode> {
    let scope = Scope { account: a.account.clone(), region: a.chain_region.clone(), since: a.since, until: a.until };
    if let (Some(s), Some(u)) = (a.since, a.until)
        && s >= u
    {
        bail!("--since must be before --until");
    }
    let aws = a.aws.options();
    let mut policy = UncoveredPolicy {
        accept_before: a.accept_uncovered_before,
        accept_after: a.accept_uncovered_after,
        ..Default::default()
    };
    let (listed, s3) = if let Some(rest) = a.source.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let client = aws.s3_client().await;
        (ingest::source::list_keys_s3(&client, bucket, prefix).await?, Some((client, bucket.to_string())))
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
    // A bucket is read now; a folder copy was made some time after its newest digest.
    policy.as_of = if s3.is_some() {
        Some(lake::time::now_micros().div_euclid(1_000_000))
    } else {
        integrity::folder::folder_as_of(&listed)
    };
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
        Some((client, bucket)) => verify_s3(&a, &client, &bucket, chains, keys, policy).await?,
        None => {
            let root = PathBuf::from(&a.source);
            tokio::task::spawn_blocking(move || integrity::folder::verify_chains(&root, chains, &keys, &policy)).await?
        }
    };
    let verdict = print_reports(&reports, if a.json { Shown::Json } else { Shown::Every })?;
    Ok(verdict.exit_code())
}

/// CloudTrail's public keys from `ListPublicKeys` in each chain's region, valid at some
/// time from its oldest digest's hour until now.
async fn fetch_public_keys(
    aws: &ingest::aws::AwsOptions,
    chains: &std::collections::BTreeMap<(String, String), ChainKeys>,
) -> Result<PublicKeys> {
    // Each region's oldest digest hour, until now (not the newest digest's hour: a backfill
    // digest is signed with the key valid when it was written, long after its hour).
    let mut oldest: std::collections::BTreeMap<&str, i64> = Default::default();
    for ((_, region), chain) in chains {
        for t in chain.digests.iter().filter_map(|k| integrity::chain::key_epoch(k)) {
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

/// What a check found, for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Findings that a digest, a signature, a link, an hour or a log file is wrong.
    pub problems: usize,
    /// Log files no digest covers, not accepted.
    pub uncovered: usize,
}

impl Verdict {
    /// 0, or [`Exit::Problems`], also when log files no digest covers are the only failures
    /// (a script that failed on 4 keeps failing on a bucket `verify` cannot vouch for).
    pub fn exit_code(self) -> ExitCode {
        if self.problems > 0 || self.uncovered > 0 { ExitCode::from(Exit::Problems) } else { ExitCode::SUCCESS }
    }
}

/// How many log files no digest covers the text names per account/region (--json: all).
const UNCOVERED_SHOWN: usize = 10;

/// Prints reports to stdout; returns what they found.
pub fn print_reports(reports: &[ChainReport], shown: Shown) -> Result<Verdict> {
    for r in reports {
        if shown == Shown::Json {
            println!("{}", serde_json::to_string(r)?);
            continue;
        }
        if shown == Shown::Problems && r.is_clean() {
            continue;
        }
        let mut uncovered = format!("{} uncovered", r.logs_uncovered);
        if r.logs_uncovered_accepted > 0 {
            uncovered.push_str(&format!(" (+{} accepted)", r.logs_uncovered_accepted));
        }
        if r.logs_not_yet_covered > 0 {
            uncovered.push_str(&format!(", {} not yet covered", r.logs_not_yet_covered));
        }
        println!(
            "{} {}: {} digests ({} valid{}), {} log files valid, {} altered, {} missing, {} unlisted, {} gaps, {uncovered}",
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
        // Uncovered files come by the thousand when a region never had validation on: the
        // first few by name, then a count (--json lists every one).
        let mut named = 0;
        for f in r.findings.iter().chain(r.notes.iter().filter(|f| matches!(f, Finding::ChainWithoutDigests { .. }))) {
            match f {
                Finding::LogUncovered { reason: Uncovered::NoDigests, .. } => continue,
                Finding::LogUncovered { .. } => {
                    named += 1;
                    if named > UNCOVERED_SHOWN {
                        continue;
                    }
                }
                _ => {}
            }
            println!("  {}", describe(f));
        }
        if named > UNCOVERED_SHOWN {
            println!("  ... and {} more log files no digest covers (--json lists each)", named - UNCOVERED_SHOWN);
        }
    }
    let t = totals(reports);
    let count = |k: &str| t.get(k).copied().unwrap_or(0);
    let verdict = Verdict { problems: count("problems"), uncovered: count("logs_uncovered") };
    if shown != Shown::Json {
        let unchecked = count("signatures_unchecked");
        if unchecked > 0 {
            println!("Signatures not checked for {unchecked} digests (no .signature sidecar).");
        }
        let (accepted, not_yet) = (count("logs_uncovered_accepted"), count("logs_not_yet_covered"));
        if accepted > 0 || not_yet > 0 {
            println!(
                "Counted, not failures: {accepted} log files no digest covers in accepted periods, \
                 {not_yet} not yet covered (newer than their chain's newest digest; see --help)."
            );
        }
        let mut outcome = Vec::new();
        if verdict.problems > 0 {
            outcome.push(format!("{} problems", verdict.problems));
        }
        if verdict.uncovered > 0 {
            outcome.push(format!("{} log files no digest covers", verdict.uncovered));
        }
        println!(
            "{} chains, {} digests ({} valid), {} log files valid: {}",
            reports.len(),
            count("digests_checked"),
            count("digests_valid"),
            count("logs_valid"),
            if outcome.is_empty() { "all valid.".to_string() } else { format!("{}.", outcome.join(", ")) }
        );
    }
    Ok(verdict)
}

/// Every chain under an S3 prefix: digests with their `signature` metadata, log files
/// fetched as the checker asks for them.
async fn verify_s3(
    a: &Args,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    chains: std::collections::BTreeMap<(String, String), ChainKeys>,
    keys: PublicKeys,
    policy: UncoveredPolicy,
) -> Result<Vec<ChainReport>> {
    let keys = std::sync::Arc::new(keys);
    let mut reports = Vec::new();
    for ((account, region), ChainKeys { digests: digest_keys, logs, history }) in chains {
        let mut digests = Vec::with_capacity(digest_keys.len());
        for key in digest_keys {
            // The same fetch as ingest's continuous validation: the signature metadata trimmed.
            let object = ingest::object::SourceObject {
                uri: format!("s3://{bucket}/{key}"),
                key: key.clone(),
                size: 0,
                etag: None,
            };
            let arrived = ingest::source::fetch_digest_s3(s3, bucket, object).await?;
            let (gz, signature) = (arrived.gz.to_vec(), arrived.signature);
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
                match handle.block_on(ingest::source::fetch_s3_if_exists(&client, &bucket, key)) {
                    Ok(b) => b.map(|b| b.to_vec()),
                    Err(e) => {
                        failures.push(e.to_string());
                        None
                    }
                }
            };
            let chain = Chain { account: &account, region: &region, digests, logs: &logs, history };
            let report = check(chain, &keys, &mut fetch, &policy);
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
        Finding::LogUncovered { key, reason } => format!(
            "log {key}: covered by no digest ({})",
            match reason {
                Uncovered::NoDigests => "its account/region has no digest",
                Uncovered::BeforeFirstDigest => "delivered before the chain's first digest",
                Uncovered::BetweenDigests =>
                    "delivered in hours with no digest: the chain restarted, or digests are gone",
                Uncovered::AfterLastDigest =>
                    "delivered after the chain's newest digest, too long ago to be still to come",
            }
        ),
        Finding::ChainWithoutDigests { logs, first, last, from, to } => format!(
            "no digests: {logs} log files covered by no digest, delivered {} to {} (first {first}, last {last})",
            from.as_deref().unwrap_or("?"),
            to.as_deref().unwrap_or("?")
        ),
        Finding::NotYetCovered { key } => format!("log {key}: not yet covered (newer than the chain's newest digest)"),
        Finding::UncoveredAccepted { key, .. } => format!("log {key}: covered by no digest, in an accepted period"),
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
