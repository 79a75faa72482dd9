//! AWS's own address ranges (`ip-ranges.json`, <https://ip-ranges.amazonaws.com/ip-ranges.json>):
//! which addresses are AWS's, and of which service and region. A range is listed once under
//! `AMAZON` (every AWS address) and again under its service (`EC2`, `S3`, `CLOUDFRONT`, ...);
//! a lookup answers with the most specific service that holds the address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{EnrichError, Result};

/// The AWS range an address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsRange<'a> {
    /// `EC2`, `S3`, `CLOUDFRONT`, ... (`AMAZON` when no service's range holds it).
    pub service: &'a str,
    /// `us-east-1`, or `GLOBAL`.
    pub region: &'a str,
}

/// AWS's published prefixes, by prefix length for longest-prefix lookups.
#[derive(Debug, Default)]
pub struct AwsRanges {
    names: Vec<String>,
    /// (prefix length, network) -> (service, region) as indexes into `names`.
    v4: HashMap<(u8, u32), Vec<(u32, u32)>>,
    v6: HashMap<(u8, u128), Vec<(u32, u32)>>,
    v4_lengths: Vec<u8>,
    v6_lengths: Vec<u8>,
    prefixes: usize,
    /// The file's `createDate`.
    pub created: Option<String>,
}

#[derive(Deserialize)]
struct RangesFile {
    #[serde(rename = "createDate")]
    create_date: Option<String>,
    prefixes: Vec<Prefix>,
    #[serde(default)]
    ipv6_prefixes: Vec<Prefix>,
}

#[derive(Deserialize)]
struct Prefix {
    #[serde(alias = "ipv6_prefix")]
    ip_prefix: String,
    region: String,
    service: String,
}

impl AwsRanges {
    /// Reads an `ip-ranges.json` file.
    pub fn read(path: &Path) -> Result<AwsRanges> {
        let bad = |what: String| EnrichError::File { path: path.to_path_buf(), what };
        let text = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        AwsRanges::parse(&text).map_err(bad)
    }

    /// Parses the text of an `ip-ranges.json`; the error says what is wrong.
    pub fn parse(text: &[u8]) -> std::result::Result<AwsRanges, String> {
        let file: RangesFile =
            serde_json::from_slice(text).map_err(|e| format!("not AWS's ip-ranges.json format: {e}"))?;
        if file.prefixes.is_empty() && file.ipv6_prefixes.is_empty() {
            return Err("not AWS's ip-ranges.json format: no prefixes".into());
        }
        let mut r = AwsRanges { created: file.create_date, ..Default::default() };
        let mut interned: HashMap<String, u32> = HashMap::new();
        let mut name = |s: &str, names: &mut Vec<String>| -> u32 {
            *interned.entry(s.to_string()).or_insert_with(|| {
                names.push(s.to_string());
                u32::try_from(names.len() - 1).unwrap_or(u32::MAX)
            })
        };
        for p in file.prefixes.iter().chain(&file.ipv6_prefixes) {
            let (addr, len) = p
                .ip_prefix
                .split_once('/')
                .and_then(|(a, l)| Some((a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?)))
                .ok_or_else(|| format!("prefix {:?} is not an address/length", p.ip_prefix))?;
            let entry = (name(&p.service, &mut r.names), name(&p.region, &mut r.names));
            match addr {
                IpAddr::V4(v4) if len <= 32 => {
                    r.v4.entry((len, mask4(u32::from(v4), len))).or_default().push(entry);
                    r.v4_lengths.push(len);
                }
                IpAddr::V6(v6) if len <= 128 => {
                    r.v6.entry((len, mask6(u128::from(v6), len))).or_default().push(entry);
                    r.v6_lengths.push(len);
                }
                _ => return Err(format!("prefix {:?}: the length is too long", p.ip_prefix)),
            }
            r.prefixes += 1;
        }
        for lengths in [&mut r.v4_lengths, &mut r.v6_lengths] {
            lengths.sort_unstable_by(|a, b| b.cmp(a));
            lengths.dedup();
        }
        Ok(r)
    }

    /// How many prefixes were read.
    pub fn len(&self) -> usize {
        self.prefixes
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    /// The range holding `addr`: the longest prefix's service, a service before `AMAZON`.
    pub fn lookup(&self, addr: IpAddr) -> Option<AwsRange<'_>> {
        let mut amazon = None;
        let mut consider = |entries: &Vec<(u32, u32)>| {
            for &(service, region) in entries {
                let found = AwsRange { service: &self.names[service as usize], region: &self.names[region as usize] };
                if found.service != "AMAZON" {
                    return Some(found);
                }
                amazon.get_or_insert(found);
            }
            None
        };
        match addr {
            IpAddr::V4(v4) => {
                let a = u32::from(v4);
                for &len in &self.v4_lengths {
                    if let Some(found) = self.v4.get(&(len, mask4(a, len))).and_then(&mut consider) {
                        return Some(found);
                    }
                }
            }
            IpAddr::V6(v6) => {
                let a = u128::from(v6);
                for &len in &self.v6_lengths {
                    if let Some(found) = self.v6.get(&(len, mask6(a, len))).and_then(&mut consider) {
                        return Some(found);
                    }
                }
            }
        }
        amazon
    }
}

fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 { 0 } else { a & (u32::MAX << (32 - u32::from(len))) }
}

fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 { 0 } else { a & (u128::MAX << (128 - u32::from(len))) }
}

/// Where `aws_ip_ranges = "fetch"` downloads from (`TRAILHOUSE_AWS_IP_RANGES_URL` changes
/// it: a mirror, or a test's local server).
pub const URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

/// The cache of a download: `$XDG_CACHE_HOME/trailhouse/ip-ranges.json` (else
/// `~/.cache/...`, else the temporary folder).
pub fn default_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("trailhouse").join("ip-ranges.json")
}

/// Downloads the ranges from `url` and keeps them in `cache`; when the download fails, the
/// cache (with a warning), else the error.
pub async fn fetch(url: &str, cache: &Path) -> Result<AwsRanges> {
    match download(url).await {
        Ok((text, ranges)) => {
            if let Some(dir) = cache.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let partial = cache.with_extension("json.partial");
            if std::fs::write(&partial, &text).and_then(|()| std::fs::rename(&partial, cache)).is_err() {
                tracing::warn!(cache = %cache.display(), "cannot keep AWS's IP ranges in the cache; using them anyway");
            }
            tracing::info!(url, prefixes = ranges.len(), created = ?ranges.created, "AWS's IP ranges downloaded");
            Ok(ranges)
        }
        Err(cause) if cache.is_file() => {
            tracing::warn!(url, %cause, cache = %cache.display(), "cannot download AWS's IP ranges; using the cached copy");
            AwsRanges::read(cache)
        }
        Err(cause) => Err(EnrichError::Fetch { url: url.to_string(), cause }),
    }
}

async fn download(url: &str) -> std::result::Result<(Vec<u8>, AwsRanges), String> {
    let client =
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let text = response.bytes().await.map_err(|e| e.to_string())?.to_vec();
    let ranges = AwsRanges::parse(&text)?;
    Ok((text, ranges))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGES: &str = r#"{"syncToken": "1", "createDate": "2026-12-01-00-00-00",
      "prefixes": [
        {"ip_prefix": "3.0.0.0/8", "region": "GLOBAL", "service": "AMAZON", "network_border_group": "GLOBAL"},
        {"ip_prefix": "3.80.0.0/12", "region": "us-east-1", "service": "AMAZON", "network_border_group": "us-east-1"},
        {"ip_prefix": "3.80.0.0/12", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"},
        {"ip_prefix": "52.94.76.0/22", "region": "us-west-2", "service": "AMAZON", "network_border_group": "us-west-2"}],
      "ipv6_prefixes": [
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"}]}"#;

    #[test]
    fn an_address_gets_the_most_specific_service_of_its_range() {
        let r = AwsRanges::parse(RANGES.as_bytes()).unwrap();
        assert_eq!(r.len(), 5);
        let at = |ip: &str| r.lookup(ip.parse().unwrap());
        assert_eq!(at("3.85.1.2"), Some(AwsRange { service: "EC2", region: "us-east-1" }));
        assert_eq!(at("3.1.1.1"), Some(AwsRange { service: "AMAZON", region: "GLOBAL" }));
        assert_eq!(at("52.94.77.1").map(|r| r.region), Some("us-west-2"));
        assert_eq!(at("2600:1f18:1234::9"), Some(AwsRange { service: "EC2", region: "us-east-1" }));
        assert_eq!(at("8.8.8.8"), None);
    }

    #[test]
    fn a_file_that_is_not_the_ranges_says_what_is_wrong() {
        assert!(AwsRanges::parse(b"{}").unwrap_err().contains("ip-ranges.json"));
        let bad = r#"{"prefixes": [{"ip_prefix": "3.0.0.0", "region": "x", "service": "EC2"}]}"#;
        assert!(AwsRanges::parse(bad.as_bytes()).unwrap_err().contains("\"3.0.0.0\""));
    }
}
