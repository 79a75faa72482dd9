//! A folder holding a copy of a trail's bucket (as `aws s3 sync` leaves it): every chain in
//! it, checked. The digests' signatures are not in the files (S3 keeps them in object
//! metadata); a `<digest>.signature` sidecar (hex) beside a digest supplies it, and a digest
//! without one is checked for everything but its signature.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::chain::{Chain, ChainReport, DigestObject, History, UncoveredPolicy, check};
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

/// One chain's keys in the hours checked, and what the store holds of its digests at any
/// time.
#[derive(Debug, Clone, Default)]
pub struct ChainKeys {
    pub digests: Vec<String>,
    pub logs: BTreeSet<String>,
    pub history: History,
}

/// Groups a store's keys into chains by (account, region), keeping those in `scope`; each
/// chain's history counts its digests outside `since`/`until` too.
pub fn group(keys: impl IntoIterator<Item = String>, scope: &Scope) -> BTreeMap<(String, String), ChainKeys> {
    let mut chains: BTreeMap<(String, String), ChainKeys> = BTreeMap::new();
    let mut histories: BTreeMap<(String, String), History> = BTreeMap::new();
    for key in keys {
        let Some((account, region, kind)) = classify(&key) else { continue };
        if scope.account.as_deref().is_some_and(|a| a != account)
            || scope.region.as_deref().is_some_and(|r| r != region)
        {
            continue;
        }
        let id = (account.to_string(), region.to_string());
        let digest = kind == "CloudTrail-Digest";
        if digest {
            histories.entry(id.clone()).or_default().add(&key);
        }
        if !scope.in_range(&key, digest) {
            continue;
        }
        let entry = chains.entry(id).or_default();
        if digest {
            entry.digests.push(key);
        } else {
            entry.logs.insert(key);
        }
    }
    for (id, chain) in &mut chains {
        chain.history = histories.get(id).copied().unwrap_or_default();
    }
    chains
}

/// When a folder copy of a bucket was made, as far as its digests tell (log files' names
/// are not evidence): an hour after the newest digest of any account/region ends (digests
/// arrive after their hour). For [`UncoveredPolicy::as_of`].
pub fn folder_as_of<'a>(keys: impl IntoIterator<Item = &'a String>) -> Option<i64> {
    keys.into_iter()
        .filter(|k| classify(k).is_some_and(|(_, _, kind)| kind == "CloudTrail-Digest"))
        .filter_map(|k| crate::chain::key_epoch(k))
        .max()
        .map(|newest| newest + 3600)
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

/// Checks every chain under `root`, log files no digest covers judged by the default
/// [`UncoveredPolicy`] (nothing accepted). A file that cannot be read is reported as the
/// finding it causes (a digest that cannot be read, a log file missing), not as an error.
pub fn verify_folder(root: &Path, keys: &PublicKeys, scope: &Scope) -> std::io::Result<Vec<ChainReport>> {
    let listed = keys_under(root)?;
    let policy = UncoveredPolicy { as_of: folder_as_of(&listed), ..Default::default() };
    let chains = group(listed, scope);
    Ok(verify_chains(root, chains, keys, &policy))
}

/// Checks chains grouped from a folder's keys ([`group`] over [`keys_under`]), one per core
/// at a time, reported in (account, region) order.
pub fn verify_chains(
    root: &Path,
    chains: BTreeMap<(String, String), ChainKeys>,
    keys: &PublicKeys,
    policy: &UncoveredPolicy,
) -> Vec<ChainReport> {
    let chains: Vec<((String, String), ChainKeys)> = chains.into_iter().collect();
    // Chains are independent: one per core at a time, reported in (account, region) order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(chains.len().max(1));
    let check_one = |((account, region), chain): &((String, String), ChainKeys)| {
        let digests = chain
            .digests
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
        let chain = Chain { account, region, digests, logs: &chain.logs, history: chain.history };
        check(chain, keys, &mut fetch, policy)
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
        let chain = &chains[&("1".to_string(), "us-east-1".to_string())];
        assert_eq!(chain.digests, vec![digest(2)], "the digest of 01:00-02:00 only");
        assert_eq!(chain.logs.iter().cloned().collect::<Vec<_>>(), vec![log(1, 5), log(1, 55), timeless]);
        // What the store holds beyond the hours checked is kept, to judge log files by.
        assert_eq!(chain.history.digests, 3);
        assert_eq!(chain.history.hourly_ends, Some((at(1), at(3))));
    }

    #[test]
    fn a_folders_as_of_time_comes_from_digests_only() {
        let keys = [
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/02/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261102T020000Z.json.gz",
            "AWSLogs/2/CloudTrail-Digest/eu-west-1/2026/11/02/2_CloudTrail-Digest_eu-west-1_t_us-east-1_20261102T030000Z.json.gz",
            // A log file named for a later time proves nothing about when the copy was made.
            "AWSLogs/1/CloudTrail/us-east-1/2026/11/09/1_CloudTrail_us-east-1_20261109T0105Z_a.json.gz",
        ]
        .map(String::from);
        assert_eq!(folder_as_of(&keys), crate::chain::epoch("2026-11-02T04:00:00Z"));
        assert_eq!(folder_as_of(&keys[2..]), None);
    }
}
