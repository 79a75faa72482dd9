//! A folder holding a copy of a trail's bucket (as `aws s3 sync` leaves it): every chain in
//! it, checked. The digests' signatures are not in the files (S3 keeps them in object
//! metadata); a `<digest>.signature` sidecar (hex) beside a digest supplies it, and a digest
//! without one is checked for everything but its signature.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::chain::{ChainReport, DigestObject, check};
use crate::keys::PublicKeys;

/// Which chains, and which hours of them, to check.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub account: Option<String>,
    pub region: Option<String>,
    /// Seconds since the epoch: digests covering an hour that ends after it, log files
    /// delivered at or after it.
    pub since: Option<i64>,
    /// Seconds since the epoch: digests covering an hour that starts before it, log files
    /// delivered before it.
    pub until: Option<i64>,
}

impl Scope {
    /// True when a key's time is in range (a key that carries no time always is).
    fn in_range(&self, key: &str, digest: bool) -> bool {
        let Some(t) = crate::chain::key_epoch(key) else { return true };
        // A digest named for the end of its hour covers the hour before it.
        let (from, to) = if digest { (t - 3600, t) } else { (t, t) };
        self.since.is_none_or(|s| if digest { to > s } else { from >= s }) && self.until.is_none_or(|u| from < u)
    }
}

/// `(account, region, kind)` of a key laid out as CloudTrail writes it: `kind` is
/// `CloudTrail` or `CloudTrail-Digest`.
pub fn classify(key: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = key.split('/').collect();
    let i = parts.iter().position(|p| *p == "CloudTrail" || *p == "CloudTrail-Digest")?;
    if i == 0 || i + 1 >= parts.len() || !key.ends_with(".json.gz") {
        return None;
    }
    Some((parts[i - 1], parts[i + 1], parts[i]))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), out)?;
        } else {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// One chain's keys: its digests and the log files the store holds.
pub type ChainKeys = (Vec<String>, BTreeSet<String>);

/// Groups a store's keys into chains by (account, region), keeping those in `scope`.
pub fn group(keys: impl IntoIterator<Item = String>, scope: &Scope) -> BTreeMap<(String, String), ChainKeys> {
    let mut chains: BTreeMap<(String, String), ChainKeys> = BTreeMap::new();
    for key in keys {
        let Some((account, region, kind)) = classify(&key) else { continue };
        if scope.account.as_deref().is_some_and(|a| a != account)
            || scope.region.as_deref().is_some_and(|r| r != region)
        {
            continue;
        }
        if !scope.in_range(&key, kind == "CloudTrail-Digest") {
            continue;
        }
        let entry = chains.entry((account.to_string(), region.to_string())).or_default();
        if kind == "CloudTrail-Digest" {
            entry.0.push(key);
        } else {
            entry.1.insert(key);
        }
    }
    chains
}

/// Every file under `root`, as keys (relative, `/`-separated): log files, digests, sidecars.
pub fn keys_under(root: &Path) -> std::io::Result<Vec<String>> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    Ok(files
        .iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(root).ok()?;
            Some(rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"))
        })
        .collect())
}

/// Checks every chain under `root`. A file that cannot be read is reported as the finding
/// it causes (a digest that cannot be read, a log file missing), not as an error.
pub fn verify_folder(root: &Path, keys: &PublicKeys, scope: &Scope) -> std::io::Result<Vec<ChainReport>> {
    let chains = group(keys_under(root)?, scope);
    Ok(verify_chains(root, chains, keys))
}

/// Checks chains grouped from a folder's keys ([`group`] over [`keys_under`]), one per core
/// at a time, reported in (account, region) order.
pub fn verify_chains(
    root: &Path,
    chains: BTreeMap<(String, String), ChainKeys>,
    keys: &PublicKeys,
) -> Vec<ChainReport> {
    let chains: Vec<((String, String), ChainKeys)> = chains.into_iter().collect();
    // Chains are independent: one per core at a time, reported in (account, region) order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(chains.len().max(1));
    let check_one = |((account, region), (digest_keys, logs)): &((String, String), ChainKeys)| {
        let digests = digest_keys
            .iter()
            .map(|key| {
                let path = root.join(key);
                let gz = std::fs::read(&path).unwrap_or_default();
                let mut sidecar = path.into_os_string();
                sidecar.push(".signature");
                let signature = std::fs::read_to_string(&sidecar).ok().map(|s| s.trim().to_string());
                DigestObject { bucket: None, key: key.clone(), gz, signature }
            })
            .collect();
        let mut fetch = |key: &str| std::fs::read(root.join(key)).ok();
        check(account, region, digests, keys, &mut fetch, logs)
    };
    let mut reports: Vec<(usize, ChainReport)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(chain) = chains.get(i) else { break };
                        done.push((i, check_one(chain)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_and_until_keep_the_digests_and_logs_of_those_hours() {
        let digest = |h: u32| {
            format!(
                "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/02/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261102T{h:02}0000Z.json.gz"
            )
        };
        let log = |h: u32, m: u32| {
            format!("AWSLogs/1/CloudTrail/us-east-1/2026/11/02/1_CloudTrail_us-east-1_20261102T{h:02}{m:02}Z_a.json.gz")
        };
        let timeless = "AWSLogs/1/CloudTrail/us-east-1/x.json.gz".to_string();
        let keys =
            vec![digest(1), digest(2), digest(3), log(0, 55), log(1, 5), log(1, 55), log(2, 5), timeless.clone()];
        let at = |h: i64| crate::chain::epoch("2026-11-02T00:00:00Z").unwrap() + h * 3600;
        let scope = Scope { since: Some(at(1)), until: Some(at(2)), ..Default::default() };
        let chains = group(keys, &scope);
        let (digests, logs) = &chains[&("1".to_string(), "us-east-1".to_string())];
        assert_eq!(digests, &vec![digest(2)], "the digest of 01:00-02:00 only");
        assert_eq!(logs.iter().cloned().collect::<Vec<_>>(), vec![log(1, 5), log(1, 55), timeless]);
    }
}
