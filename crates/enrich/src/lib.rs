//! enrich: who and where, offline. What an address is (country, city, coordinates, its
//! network's ASN and organization, whether it is one of AWS's and which service and region)
//! and what an account is called (its name, OU and tags), for CloudTrail's
//! `sourceIPAddress` and account ids.
//!
//! Everything is loaded once, at start, from files the user points to ([`Sources`]): MaxMind
//! DB files (`geoip_city`, `geoip_asn`: MaxMind GeoLite2, IPinfo Lite, DB-IP Lite and
//! ip-location-db publish the format), AWS's `ip-ranges.json` (or downloaded from AWS and
//! cached, [`aws_ranges::fetch`]), and a CSV of accounts or AWS Organizations' list. A file
//! that cannot be read is an error naming it and what is wrong; nothing is downloaded per
//! lookup. Private, reserved and service-name sources (`AWS Internal`,
//! `ec2.amazonaws.com`) have no answer.
//!
//! The process's [`Enrichment`] is installed once ([`install`]) and read by the SQL
//! functions (`geo_country(ip)`, `asn(ip)`, `aws_service(ip)`, `account_name(id)`, in the
//! `query` crate) wherever they run: the CLI, the console, a cluster's executors.
//!
//! ```no_run
//! let sources = enrich::Sources { geoip_asn: Some("GeoLite2-ASN.mmdb".into()), ..Default::default() };
//! let e = enrich::Enrichment::load_files(&sources).unwrap();
//! assert_eq!(e.ip.asn("8.8.8.8").map(|a| a.number), Some(15169));
//! ```

pub mod accounts;
pub mod aws_ranges;
pub mod ip;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub use accounts::{Account, Accounts};
pub use aws_ranges::{AwsRange, AwsRanges};
pub use ip::{Asn, Fixed, Geo, IpIntel};

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("{path}: not a MaxMind DB file the {what} lookups can read: {cause}")]
    Database { path: PathBuf, what: &'static str, cause: String },
    #[error("{path}: {what}")]
    File { path: PathBuf, what: String },
    #[error("cannot download AWS's IP ranges from {url}: {cause}")]
    Fetch { url: String, cause: String },
    #[error("{0}")]
    Organizations(String),
}

pub type Result<T, E = EnrichError> = std::result::Result<T, E>;

/// Where the AWS IP ranges come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangesSource {
    /// An `ip-ranges.json` file.
    File(PathBuf),
    /// Downloaded from `url` at start, kept in `cache` (used when the download fails).
    Fetch { url: String, cache: PathBuf },
}

/// Where the accounts' names come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountsSource {
    /// A CSV file: `id,name[,ou[,tags]]`.
    File(PathBuf),
    /// AWS Organizations: `ListAccounts` and `ListParents`.
    Organizations,
}

/// The files the user points to (the settings file's `geoip_city`, `geoip_asn`,
/// `aws_ip_ranges`, `accounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub geoip_city: Option<PathBuf>,
    pub geoip_asn: Option<PathBuf>,
    pub aws_ip_ranges: Option<RangesSource>,
    pub accounts: Option<AccountsSource>,
}

impl Sources {
    pub fn is_empty(&self) -> bool {
        self == &Sources::default()
    }
}

/// Everything this process knows about addresses and accounts.
#[derive(Debug)]
pub struct Enrichment {
    pub ip: IpIntel,
    pub accounts: Accounts,
    /// Faster than this between two places of one identity is impossible travel.
    pub max_travel_kmh: f64,
}

/// A jet's speed, with margin.
pub const DEFAULT_MAX_TRAVEL_KMH: f64 = 1000.0;

impl Default for Enrichment {
    fn default() -> Enrichment {
        Enrichment { ip: IpIntel::default(), accounts: Accounts::default(), max_travel_kmh: DEFAULT_MAX_TRAVEL_KMH }
    }
}

impl Enrichment {
    /// The files of `sources` (a `Fetch` of the ranges reads its cache; an Organizations
    /// account list is left empty: see [`Enrichment::load`]).
    pub fn load_files(sources: &Sources) -> Result<Enrichment> {
        let mut ip = IpIntel::open(sources.geoip_city.as_deref(), sources.geoip_asn.as_deref())?;
        if let Some(RangesSource::File(path)) = &sources.aws_ip_ranges {
            ip.aws = Some(AwsRanges::read(path)?);
        }
        let accounts = match &sources.accounts {
            Some(AccountsSource::File(path)) => Accounts::read_csv(path)?,
            _ => Accounts::default(),
        };
        Ok(Enrichment { ip, accounts, max_travel_kmh: DEFAULT_MAX_TRAVEL_KMH })
    }

    /// Everything `sources` names: the files, the ranges downloaded when asked (falling back
    /// to the cache with a warning), the accounts listed by Organizations when asked (with
    /// `organizations`, a client for it).
    pub async fn load(sources: &Sources, organizations: Option<&aws_sdk_organizations::Client>) -> Result<Enrichment> {
        let mut e = Enrichment::load_files(sources)?;
        if let Some(RangesSource::Fetch { url, cache }) = &sources.aws_ip_ranges {
            e.ip.aws = Some(aws_ranges::fetch(url, cache).await?);
        }
        if let (Some(AccountsSource::Organizations), Some(client)) = (&sources.accounts, organizations) {
            e.accounts = Accounts::from_organizations(client).await?;
        }
        Ok(e)
    }

    /// What this enrichment can answer, for the run's log.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if self.ip.has_city() {
            parts.push("GeoIP city".to_string());
        }
        if self.ip.has_asn() {
            parts.push("ASN".to_string());
        }
        if let Some(r) = &self.ip.aws {
            parts.push(format!("AWS IP ranges ({} prefixes)", r.len()));
        }
        if !self.accounts.is_empty() {
            parts.push(format!("{} account names", self.accounts.len()));
        }
        if parts.is_empty() { "nothing".into() } else { parts.join(", ") }
    }
}

static INSTALLED: OnceLock<Arc<Enrichment>> = OnceLock::new();
static EMPTY: OnceLock<Arc<Enrichment>> = OnceLock::new();

/// Makes `e` the process's enrichment (the SQL functions read it). Once per process: a
/// second call keeps the first and returns false.
pub fn install(e: Enrichment) -> bool {
    INSTALLED.set(Arc::new(e)).is_ok()
}

/// The process's enrichment: what was installed, or an empty one (every lookup `None`).
pub fn installed() -> &'static Enrichment {
    shared().as_ref()
}

/// [`installed`], to keep (the SQL functions hold one).
pub fn shared() -> &'static Arc<Enrichment> {
    INSTALLED.get().unwrap_or_else(|| EMPTY.get_or_init(|| Arc::new(Enrichment::default())))
}

impl Enrichment {
    /// An enrichment that knows only the addresses given (a rule's test).
    pub fn fixture(ips: std::collections::BTreeMap<String, Fixed>) -> Enrichment {
        Enrichment { ip: IpIntel::fixed(ips), ..Enrichment::default() }
    }
}
