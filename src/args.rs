//! Argument groups shared by several commands (the lake, AWS, ingest tuning, the rule
//! pack) and typed value parsers, so each flag is declared and checked in one place.

use std::path::PathBuf;

use anyhow::{Context, Result};
use detections::rule::Rule;
use ingest::aws::AwsOptions;
use lake::LakeOptions;

// No doc comments on these structs: clap would take them as the help of the commands
// that flatten them.

#[derive(Debug, clap::Args)]
pub struct LakeArgs {
    /// The lake: a local folder or s3://bucket/prefix.
    #[arg(long, env = "TRAILHOUSE_LAKE", default_value = "./lake", value_hint = clap::ValueHint::AnyPath)]
    pub lake: String,
}

/// The lake and how to reach it: what every command that reads or writes a lake flattens.
#[derive(Debug, clap::Args)]
pub struct LakeAccess {
    #[command(flatten)]
    pub lake: LakeArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl LakeAccess {
    /// The lake's location as the user gave it.
    pub fn location(&self) -> &str {
        &self.lake.lake
    }

    /// The AWS settings (for a lake or a source on S3).
    pub fn aws(&self) -> AwsOptions {
        self.aws.options()
    }

    /// The lake's options: storage from the AWS flags, and file size and compression from
    /// `tuning` for the commands that write.
    pub fn options(&self, tuning: Option<&TuningArgs>) -> LakeOptions {
        lake_options(tuning, &self.aws())
    }
}

#[derive(Debug, clap::Args)]
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
    pub fn options(&self) -> AwsOptions {
        AwsOptions { endpoint_url: self.endpoint_url.clone(), region: self.region.clone() }
    }
}

#[derive(Debug, clap::Args)]
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
    /// Events decoded into one Arrow batch before it is encoded (memory against
    /// per-batch overhead).
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_rows: u64,
}

/// The lake's options: storage settings from the AWS flags, file size and compression from
/// the tuning flags (commands that only read the lake pass `None`).
pub fn lake_options(tuning: Option<&TuningArgs>, aws: &AwsOptions) -> LakeOptions {
    let mut o = LakeOptions { storage_options: aws.lake_storage_options(), ..Default::default() };
    if let Some(t) = tuning {
        o.target_file_bytes = t.target_file_mb << 20;
        o.zstd_level = t.zstd_level;
    }
    o
}

#[derive(Debug, clap::Args)]
pub struct PackArgs {
    /// A folder of rule files instead of the built-in packs: `*.toml` rules, and `*.yml`
    /// Sigma rules (CloudTrail) with their tests in `<rule>.tests.toml`.
    #[arg(long, env = "TRAILHOUSE_RULES")]
    pub rules: Option<PathBuf>,
    /// Which built-in pack: trailhouse's own rules (default), SigmaHQ's 57 CloudTrail rules
    /// (`sigma`, DRL 1.1), or both (`all`). The Sigma pack is not on by default: a third of
    /// its rules overlap the trailhouse pack's and would raise the same finding twice.
    #[arg(long, value_enum, default_value_t = Pack::Trailhouse, env = "TRAILHOUSE_PACK")]
    pub pack: Pack,
    /// A folder of Sigma rules (`*.yml`, tests in `<rule>.tests.toml`) added to the pack
    /// chosen above; repeat for more. In a settings file: `sigma_dirs = ["dir", ...]`,
    /// relative to the file.
    #[arg(long, env = "TRAILHOUSE_SIGMA_DIRS", value_delimiter = ',', value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub sigma_dirs: Vec<PathBuf>,
}

/// The accounts under an OU, at every level below it.
async fn accounts_under(client: &aws_sdk_organizations::Client, ou: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut todo = vec![ou.to_string()];
    while let Some(parent) = todo.pop() {
        let mut pages = client.list_accounts_for_parent().parent_id(&parent).into_paginator().send();
        while let Some(page) = pages.next().await {
            out.extend(page?.accounts().iter().filter_map(|a| a.id().map(String::from)));
        }
        let mut pages = client.list_organizational_units_for_parent().parent_id(&parent).into_paginator().send();
        while let Some(page) = pages.next().await {
            todo.extend(page?.organizational_units().iter().filter_map(|u| u.id().map(String::from)));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The built-in packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pack {
    Trailhouse,
    Sigma,
    All,
}

impl PackArgs {
    /// [`PackArgs::load`], with the settings file's `[rule_settings]` applied (rules off,
    /// severities, dedup windows, accounts, shadow mode).
    pub async fn load_tuned(&self, ids: &[String], aws: &AwsOptions) -> Result<Vec<Rule>> {
        let rules = self.load(ids)?;
        let tuning = detections::tuning::Tuning::load(crate::settings::config_file().as_deref())?;
        if tuning.is_empty() {
            return Ok(rules);
        }
        // Accounts named by OU path: the OU's accounts, at every level below it.
        let ous = tuning.organizational_units();
        let tuning = if ous.is_empty() {
            tuning
        } else {
            let client = aws_sdk_organizations::Client::new(&aws.sdk_config().await);
            let mut resolved = std::collections::BTreeMap::new();
            for ou in ous {
                let accounts = accounts_under(&client, &ou).await.with_context(|| {
                    format!(
                        "cannot list the accounts of OU {ou} (organizations:ListAccountsForParent and \
                         ListOrganizationalUnitsForParent, from the management or a delegated administrator account)"
                    )
                })?;
                resolved.insert(ou, accounts);
            }
            tuning.with_organizational_units(&resolved)?
        };
        let mut known: Vec<String> = detections::pack::builtin()?.into_iter().map(|r| r.id).collect();
        known.extend(detections::pack::builtin_sigma()?.0.into_iter().map(|r| r.id));
        if let Some(dir) = &self.rules {
            known.extend(detections::pack::load_dir_reporting(dir)?.0.into_iter().map(|r| r.id));
        }
        known.extend(self.load(&[])?.into_iter().map(|r| r.id));
        Ok(tuning.apply(rules, &known)?)
    }

    /// The rules whose id is in `ids` (all when empty), from `--rules` or the built-in packs.
    /// A Sigma rule that does not compile is reported on stderr and the others load.
    pub fn load(&self, ids: &[String]) -> Result<Vec<Rule>> {
        let (rules, problems) = match (&self.rules, self.pack) {
            (Some(dir), _) => detections::pack::load_dir_reporting(dir)?,
            (None, Pack::Trailhouse) => (detections::pack::builtin()?, vec![]),
            (None, Pack::Sigma) => detections::pack::builtin_sigma()?,
            (None, Pack::All) => {
                let (mut rules, problems) = detections::pack::builtin_sigma()?;
                rules.extend(detections::pack::builtin()?);
                rules.sort_by(|a, b| a.id.cmp(&b.id));
                (rules, problems)
            }
        };
        let (rules, problems) = if self.sigma_dirs.is_empty() {
            (rules, problems)
        } else {
            let more = detections::pack::PackConfig { sigma_dirs: self.sigma_dirs.clone() };
            let (more, more_problems) = more.sigma_rules()?;
            (detections::pack::merge(rules, more)?, problems.into_iter().chain(more_problems).collect())
        };
        for p in &problems {
            eprintln!("warning: rule not loaded: {p}");
        }
        // A user's rules are linted as they load; the built-in packs are linted by the tests.
        for dir in self.rules.iter().chain(&self.sigma_dirs) {
            match detections::lint::lint_dir(dir) {
                Ok(findings) => {
                    for f in findings.iter().filter(|f| f.accepted.is_none()) {
                        eprintln!("warning: {f}");
                    }
                }
                Err(e) => eprintln!("warning: rules in {} not linted: {e}", dir.display()),
            }
        }
        Ok(detections::pack::select(rules, ids)?)
    }

    /// The lint findings of the rules this pack would load (`trailhouse rules lint`).
    pub fn lint(&self) -> Result<Vec<detections::lint::Finding>> {
        use detections::lint::{lint_builtin, lint_dir};
        let mut findings = match (&self.rules, self.pack) {
            (Some(dir), _) => lint_dir(dir)?,
            (None, Pack::Trailhouse) => lint_builtin(true, false)?,
            (None, Pack::Sigma) => lint_builtin(false, true)?,
            (None, Pack::All) => lint_builtin(true, true)?,
        };
        for dir in &self.sigma_dirs {
            findings.extend(lint_dir(dir)?);
        }
        Ok(findings)
    }
}

/// A duration as the user typed it (`30s`, `15m`, `24h`, `7d`, `2w`) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationArg {
    pub text: String,
    pub micros: i64,
}

impl std::fmt::Display for DurationArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.text)
    }
}

/// Parses an age such as `30m`, `24h`, `7d` (value parser of `--since`).
pub fn age(s: &str) -> Result<DurationArg, String> {
    lake::time::parse_duration(s)
        .map(|micros| DurationArg { text: s.to_string(), micros })
        .ok_or_else(|| "not a duration: use e.g. 30m, 24h, 7d".to_string())
}

/// Parses the period of a repeated run such as `1m`, `5m`, `1h`, at least a second (value
/// parser of `--every`).
pub fn period(s: &str) -> Result<DurationArg, String> {
    lake::time::parse_duration(s)
        .filter(|m| *m >= 1_000_000)
        .map(|micros| DurationArg { text: s.to_string(), micros })
        .ok_or_else(|| "not a period: use e.g. 1m, 5m, 1h (at least 1s)".to_string())
}

#[derive(Debug, Clone, clap::Args)]
pub struct EnrichArgs {
    /// A MaxMind DB file of cities (MaxMind GeoLite2-City, IPinfo Lite, DB-IP Lite,
    /// ip-location-db) for geo_country(ip), geo_city(ip), geo_location(ip) and the rules
    /// that compare places.
    #[arg(long, env = "TRAILHOUSE_GEOIP_CITY", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub geoip_city: Option<PathBuf>,
    /// A MaxMind DB file of autonomous systems (GeoLite2-ASN, IPinfo Lite, ...) for asn(ip)
    /// and asn_org(ip).
    #[arg(long, env = "TRAILHOUSE_GEOIP_ASN", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub geoip_asn: Option<PathBuf>,
    /// AWS's ip-ranges.json for aws_service(ip) and is_aws_ip(ip), or `fetch`: downloaded
    /// from AWS at start (TRAILHOUSE_AWS_IP_RANGES_URL to use a mirror) and cached, the
    /// cache used when the download fails.
    #[arg(long, env = "TRAILHOUSE_AWS_IP_RANGES", value_name = "FILE|fetch", value_hint = clap::ValueHint::FilePath)]
    pub aws_ip_ranges: Option<PathBuf>,
    /// The accounts' names for account_name(id), alerts and the console: a CSV of
    /// `id,name,ou,tags`, or `organizations` (AWS Organizations' ListAccounts and
    /// ListParents, from the management or a delegated administrator account).
    #[arg(long, env = "TRAILHOUSE_ACCOUNTS", value_name = "FILE|organizations", value_hint = clap::ValueHint::FilePath)]
    pub accounts: Option<PathBuf>,
    /// Faster than this (km/h) between two sign-ins of one identity is impossible travel
    /// (console-login-impossible-travel, with --geoip-city; max_travel_kmh() in SQL).
    #[arg(long, env = "TRAILHOUSE_MAX_TRAVEL_KMH", value_name = "KMH", default_value_t = enrich::DEFAULT_MAX_TRAVEL_KMH)]
    pub max_travel_kmh: f64,
}

impl EnrichArgs {
    pub fn sources(&self) -> enrich::Sources {
        let word = |p: &Option<PathBuf>, w: &str| p.as_deref().is_some_and(|p| p.as_os_str() == w);
        enrich::Sources {
            geoip_city: self.geoip_city.clone(),
            geoip_asn: self.geoip_asn.clone(),
            aws_ip_ranges: self.aws_ip_ranges.as_ref().map(|p| {
                if word(&self.aws_ip_ranges, "fetch") {
                    enrich::RangesSource::Fetch {
                        url: std::env::var("TRAILHOUSE_AWS_IP_RANGES_URL")
                            .ok()
                            .filter(|u| !u.is_empty())
                            .unwrap_or_else(|| enrich::aws_ranges::URL.to_string()),
                        cache: enrich::aws_ranges::default_cache(),
                    }
                } else {
                    enrich::RangesSource::File(p.clone())
                }
            }),
            accounts: self.accounts.as_ref().map(|p| {
                if word(&self.accounts, "organizations") {
                    enrich::AccountsSource::Organizations
                } else {
                    enrich::AccountsSource::File(p.clone())
                }
            }),
        }
    }

    /// Loads the files named and makes them the process's (the SQL functions read them);
    /// once per process. A file that cannot be read is an error naming it. `aws` reaches
    /// AWS Organizations for the `organizations` account source.
    pub async fn install(&self, aws: &AwsOptions) -> Result<()> {
        static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        if DONE.get().is_some() {
            return Ok(());
        }
        let sources = self.sources();
        if sources.is_empty() && self.max_travel_kmh == enrich::DEFAULT_MAX_TRAVEL_KMH {
            return Ok(());
        }
        let organizations = if matches!(sources.accounts, Some(enrich::AccountsSource::Organizations)) {
            Some(aws_sdk_organizations::Client::new(&aws.sdk_config().await))
        } else {
            None
        };
        let mut e = enrich::Enrichment::load(&sources, organizations.as_ref()).await?;
        e.max_travel_kmh = self.max_travel_kmh;
        tracing::debug!(loaded = %e.describe(), "who and where: IP and account files loaded");
        enrich::install(e);
        let _ = DONE.set(());
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Run the SQL on a Ballista cluster: its scheduler, df://HOST:PORT (`trailhouse cluster
    /// scheduler`). This machine reads the Delta log; the executors read the Parquet files
    /// from the lake's store (a path they all see, or S3).
    #[arg(long, env = "TRAILHOUSE_CLUSTER", value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub memory: MemoryArgs,
    #[command(flatten)]
    pub enrich: EnrichArgs,
}

#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// How much memory a query's sorts, aggregations and joins may hold here: beyond it they
    /// spill to the temporary folder, and one that cannot spill fails with a message naming
    /// the limit. A size (500MB, 2GiB) or a share of this machine's memory (25%)
    /// [default: 50%]. Not with --cluster: its executors run the plans.
    #[arg(long, env = "TRAILHOUSE_MEMORY_LIMIT", value_name = "SIZE", value_parser = query::MemoryLimit::parse)]
    pub memory_limit: Option<query::MemoryLimit>,
}

impl MemoryArgs {
    /// The limit given, or half of this machine's memory.
    pub fn limit(&self) -> query::MemoryLimit {
        self.memory_limit.unwrap_or_else(query::MemoryLimit::machine_default)
    }
}

impl ClusterArgs {
    /// A query context: one that runs here, or on the cluster (`aws`: the command's AWS
    /// settings, for what enrichment reads from AWS).
    pub async fn context(&self, aws: &AwsOptions) -> Result<datafusion::prelude::SessionContext> {
        self.enrich.install(aws).await?;
        Ok(match &self.cluster {
            Some(url) => cluster::client::remote_context(url).await?,
            None => query::new_context_within(self.memory.limit())?,
        })
    }

    /// The lake's query session, on the cluster with --cluster.
    pub async fn session(&self, lake: &LakeAccess) -> Result<query::LakeSession> {
        Ok(query::LakeSession::open_in(self.context(&lake.aws()).await?, lake.location(), &lake.options(None)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_text_and_reject_what_is_not_one() {
        for (text, micros) in
            [("30s", 30_000_000), ("15m", 900_000_000), ("24h", 86_400_000_000), ("7d", 604_800_000_000)]
        {
            assert_eq!(age(text), Ok(DurationArg { text: text.into(), micros }), "{text}");
        }
        for bad in ["", "7", "7y", "-1h", "soon"] {
            assert!(age(bad).unwrap_err().contains("e.g. 30m"), "{bad}");
        }
        assert_eq!(period("5m").map(|d| d.micros), Ok(300_000_000));
        assert_eq!(period("5m").map(|d| d.to_string()), Ok("5m".to_string()));
        assert!(period("0s").is_err() && period("1s").is_ok());
    }
}
