//! The corpus: the accounts, then one file per account, region and 5-minute slot, the
//! routine events spread over them by region weight, and the planted scenarios in the file
//! of their slot.

use crate::error::Result;
use crate::events::{EventWriter, Login};
use crate::rng::Rng;
use crate::scenarios::{Plant, planted};
use crate::spec::{Account, GenerateOptions, REGIONS, USERS, org_id};
use crate::tamper::{WrittenChain, WrittenDigest};
use crate::writer::{log_file_name, log_folder, write_log_file, write_planted};

/// What was generated.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenerateSummary {
    /// Log files written (`planted.tsv` is not one).
    pub files: u64,
    /// Events in them, the planted ones included.
    pub events: u64,
    /// Their size, gzip-compressed.
    pub bytes: u64,
    /// Planted events (each login of a brute force counts).
    pub planted: u64,
    /// Tamperings done after writing (`--tamper`), each a line of `planted.tsv`.
    pub tampered: usize,
}

/// CloudTrail delivers a file per account and region about every five minutes.
const SLOT_SECS: i64 = 300;
const SLOTS_PER_DAY: u64 = 288;

/// Generates the corpus under `opts.out`: the log files, and `planted.tsv` listing the
/// planted scenarios. The same options give byte-identical files.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    let accounts_n = opts.accounts.max(1) as usize;
    let mut rng = Rng::new(opts.seed);
    let mut own = opts.accounts_seed.map(Rng::new);
    let arng = own.as_mut().unwrap_or(&mut rng);
    let accounts: Vec<Account> = (0..accounts_n).map(|i| Account::new(i, arng)).collect();
    let org = org_id(arng);
    let org_level = opts.org_trail.then_some(org.as_str());
    let mut w = EventWriter::new(rng);
    w.skew = opts.skew;

    let day_start = opts.start_day * 86_400;
    let start_secs = day_start + i64::from(opts.start_minute / 5) * SLOT_SECS;
    let slots = match opts.minutes {
        Some(m) => u64::from(m.div_ceil(5).max(1)),
        None => u64::from(opts.days) * SLOTS_PER_DAY,
    };
    let region_total: u32 = REGIONS.iter().map(|r| r.1).sum();
    let files_total = accounts_n as u64 * slots * REGIONS.len() as u64;
    // The scenarios keep their times of the first day; those outside the window are left out.
    let end_secs = start_secs + slots as i64 * SLOT_SECS;
    let plants: Vec<Plant> = if opts.planted {
        planted(day_start, accounts_n).into_iter().filter(|p| (start_secs..end_secs).contains(&p.at)).collect()
    } else {
        Vec::new()
    };
    let mut summary = GenerateSummary::default();

    // Events per file: the region's weight with jitter, scaled so the total is exact.
    let mut remaining = opts.events;
    let mut remaining_weight: f64 = 0.0;
    let mut weights = Vec::with_capacity(files_total as usize);
    for a in 0..accounts_n {
        let account_weight = if opts.skew { 1.0 / (a + 1) as f64 } else { 1.0 };
        for (_, region_weight) in REGIONS {
            for _ in 0..slots {
                let jitter = 0.25 + (w.rng.below(1000) as f64) / 666.0;
                let weight = f64::from(*region_weight) / f64::from(region_total) * jitter * account_weight;
                weights.push(weight);
                remaining_weight += weight;
            }
        }
    }

    // (account, region) -> (delivery time, key, SHA-256 of the file), for the digests.
    let mut delivered: Delivered = Default::default();
    let mut out = String::with_capacity(1 << 20);
    let mut gz = Vec::with_capacity(1 << 18);
    let mut file_idx = 0usize;
    for (ai, acct) in accounts.iter().enumerate() {
        for (region, _) in REGIONS {
            for slot in 0..slots {
                let weight = weights[file_idx];
                file_idx += 1;
                let share = if remaining_weight > 0.0 { weight / remaining_weight } else { 1.0 };
                let exact = remaining as f64 * share;
                let mut n = exact.floor() as u64;
                if w.rng.chance(exact - exact.floor()) {
                    n += 1;
                }
                n = n.min(remaining);
                remaining -= n;
                remaining_weight -= weight;
                let slot_start = start_secs + (slot as i64) * SLOT_SECS;
                let slot_plants: Vec<&Plant> = plants
                    .iter()
                    .filter(|p| {
                        p.account == ai && p.region == *region && (slot_start..slot_start + SLOT_SECS).contains(&p.at)
                    })
                    .collect();
                if n == 0 && slot_plants.is_empty() {
                    continue;
                }
                out.clear();
                out.push_str("{\"Records\":[");
                let mut times: Vec<i64> = (0..n).map(|_| slot_start + w.rng.below(300) as i64).collect();
                times.sort_unstable();
                for (k, &t) in times.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    if w.rng.chance(0.004) {
                        // Routine console logins: with MFA (the planted scenarios sign in
                        // without), each person from one of their own two addresses.
                        let user = w.rng.below(USERS.len() as u64) as usize;
                        let _ = w.rng.chance(0.97);
                        let ip = acct.person_ip(user, &mut w.rng);
                        w.console_login(&mut out, acct, t, &Login { who: USERS[user], mfa: true, success: true, ip });
                    } else {
                        w.event(&mut out, acct, region, t);
                    }
                }
                for p in slot_plants {
                    summary.planted += p.write(&mut w, &mut out, acct);
                }
                out.push_str("]}");
                summary.events += n;
                let name = log_file_name(&mut w.rng, &acct.id, region, slot_start + SLOT_SECS);
                let folder = log_folder(&opts.out, org_level, &acct.id, region, slot_start.div_euclid(86_400));
                summary.bytes += write_log_file(&folder, &name, &out, &mut gz)?;
                summary.files += 1;
                if opts.digests || opts.tamper {
                    let key = key_of(&opts.out, &folder.join(&name));
                    delivered.entry((ai, region)).or_default().push((
                        slot_start + SLOT_SECS,
                        key,
                        integrity::sha256_hex(out.as_bytes()),
                    ));
                }
            }
        }
    }
    summary.events += summary.planted;
    write_planted(&opts.out, &plants, &accounts)?;
    if opts.digests || opts.tamper {
        let chains = write_digests(opts, org_level, &accounts, &delivered)?;
        if opts.tamper {
            summary.tampered = crate::tamper::tamper(&opts.out, &chains)?;
        }
    }
    Ok(summary)
}

/// (account index, region) -> the files delivered: (delivery time, key, SHA-256 of the file).
type Delivered<'a> = std::collections::BTreeMap<(usize, &'a str), Vec<(i64, String, String)>>;

/// `path` relative to `root`, `/`-separated: its S3 key.
fn key_of(root: &std::path::Path, path: &std::path::Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// One chain of hourly digests per account and region over the hours files were delivered
/// in (an hour without a file still gets its digest, as CloudTrail writes them).
fn write_digests(
    opts: &GenerateOptions,
    org: Option<&str>,
    accounts: &[Account],
    delivered: &Delivered,
) -> Result<Vec<WrittenChain>> {
    use crate::error::GenerateError;
    let signer = integrity::signer::Signer::generate().map_err(|e| GenerateError::Digest(e.to_string()))?;
    let mut chains = Vec::new();
    let stamp = |t: i64| {
        let (y, m, d) = lake::time::civil_from_days(t.div_euclid(86_400));
        let s = t.rem_euclid(86_400);
        (format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s % 3600 / 60, s % 60), (y, m, d))
    };
    for ((ai, region), files) in delivered {
        let account = &accounts[*ai].id;
        let (first, last) =
            (files.iter().map(|f| f.0).min().unwrap_or(0), files.iter().map(|f| f.0).max().unwrap_or(0));
        let mut previous: Option<integrity::signer::SignedDigest> = None;
        let mut chain = WrittenChain { account: account.clone(), region: region.to_string(), digests: Vec::new() };
        for hour in first.div_euclid(3600)..=last.div_euclid(3600) {
            let (start, end) = (hour * 3600, hour * 3600 + 3600);
            let logs: Vec<(String, String)> =
                files.iter().filter(|f| (start..end).contains(&f.0)).map(|f| (f.1.clone(), f.2.clone())).collect();
            let (start_text, _) = stamp(start);
            let (end_text, (y, m, d)) = stamp(end);
            let compact: String = end_text.chars().filter(|c| *c != '-' && *c != ':').collect();
            let mut key = String::from("AWSLogs/");
            if let Some(org) = org {
                key.push_str(org);
                key.push('/');
            }
            key.push_str(&format!(
                "{account}/CloudTrail-Digest/{region}/{y:04}/{m:02}/{d:02}/{account}_CloudTrail-Digest_{region}_org-trail_us-east-1_{compact}.json.gz"
            ));
            let digest = signer
                .digest(&integrity::signer::DigestSpec {
                    bucket: &opts.bucket,
                    key: &key,
                    account,
                    start: &start_text,
                    end: &end_text,
                    previous: previous.as_ref(),
                    logs: &logs,
                })
                .map_err(|e| GenerateError::Digest(e.to_string()))?;
            let path = opts.out.join(&key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| GenerateError::io(dir, e))?;
            }
            std::fs::write(&path, &digest.gz).map_err(|e| GenerateError::io(&path, e))?;
            let sidecar = opts.out.join(format!("{key}.signature"));
            std::fs::write(&sidecar, &digest.signature).map_err(|e| GenerateError::io(&sidecar, e))?;
            chain.digests.push(WrittenDigest {
                key: key.clone(),
                end,
                logs: files.iter().filter(|f| (start..end).contains(&f.0)).map(|f| (f.0, f.1.clone())).collect(),
            });
            previous = Some(digest);
        }
        chains.push(chain);
    }
    let keys = opts.out.join("public-keys.json");
    let list = signer.public_key_list("2026-01-01T00:00:00Z", "2036-01-01T00:00:00Z");
    let text = serde_json::to_string_pretty(&list).map_err(|e| GenerateError::Digest(e.to_string()))?;
    std::fs::write(&keys, text).map_err(|e| GenerateError::io(&keys, e))?;
    Ok(chains)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Every file under `dir`, in no particular order.
    fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut stack = vec![dir.to_path_buf()];
        let mut files = vec![];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() { stack.push(p) } else { files.push(p) }
            }
        }
        files
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let run = |sub: &str, seed| {
            let out = dir.path().join(sub);
            let s = generate(&GenerateOptions {
                out: out.clone(),
                events: 500,
                accounts: 2,
                days: 1,
                seed,
                ..Default::default()
            })
            .unwrap();
            let mut files: Vec<(String, Vec<u8>)> = files_under(&out)
                .into_iter()
                .map(|p| (p.strip_prefix(&out).unwrap().display().to_string(), std::fs::read(&p).unwrap()))
                .collect();
            files.sort();
            (s, files)
        };
        let (a, fa) = run("a", 7);
        let (_, fb) = run("b", 7);
        let (_, fc) = run("c", 8);
        assert_eq!(fa, fb);
        assert_ne!(fa, fc);
        assert_eq!(a.events, 500 + a.planted);
        assert!(a.planted >= 14);
    }

    /// Each record's account and principal ARN (empty when it has none), over a corpus.
    fn accounts_and_principals(out: &std::path::Path) -> Vec<(String, String)> {
        let mut seen = vec![];
        for p in files_under(out).into_iter().filter(|p| p.to_string_lossy().ends_with(".json.gz")) {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()),
                &mut text,
            )
            .unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            for r in v["Records"].as_array().unwrap() {
                let arn = r["userIdentity"]["arn"].as_str().unwrap_or_default();
                seen.push((r["recipientAccountId"].as_str().unwrap().to_string(), arn.to_string()));
            }
        }
        seen
    }

    #[test]
    fn skew_lets_a_few_accounts_and_principals_carry_most_traffic() {
        let dir = tempfile::tempdir().unwrap();
        let run = |skew: bool| {
            let out = dir.path().join(if skew { "skewed" } else { "even" });
            let opts = GenerateOptions {
                out: out.clone(),
                events: 20_000,
                accounts: 4,
                planted: false,
                skew,
                ..Default::default()
            };
            generate(&opts).unwrap();
            let seen = accounts_and_principals(&out);
            let mut per_account: BTreeMap<String, usize> = BTreeMap::new();
            let mut per_arn: BTreeMap<String, usize> = BTreeMap::new();
            for (account, arn) in &seen {
                *per_account.entry(account.clone()).or_default() += 1;
                if !arn.is_empty() {
                    *per_arn.entry(arn.clone()).or_default() += 1;
                }
            }
            let busiest = *per_account.values().max().unwrap() as f64 / seen.len() as f64;
            let mut counts: Vec<usize> = per_arn.values().copied().collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let with_arn: usize = counts.iter().sum();
            let top10 = counts.iter().take(10).sum::<usize>() as f64 / with_arn as f64;
            (seen.len(), busiest, per_arn.len(), top10)
        };
        let (even_n, even_busiest, even_arns, even_top10) = run(false);
        let (skew_n, skew_busiest, skew_arns, skew_top10) = run(true);
        assert_eq!((even_n, skew_n), (20_000, 20_000));
        // 1/(1 + 1/2 + 1/3 + 1/4) = 48% for the first of four accounts, against ~25%.
        assert!(even_busiest < 0.3 && skew_busiest > 0.4, "{even_busiest} {skew_busiest}");
        assert!(skew_arns * 4 < even_arns, "{skew_arns} principals skewed, {even_arns} even");
        assert!(skew_top10 > 2.0 * even_top10, "top 10 principals: {skew_top10} skewed, {even_top10} even");
    }

    #[test]
    fn parts_with_their_own_seeds_share_the_accounts_of_the_accounts_seed() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = |sub: &str, seed, accounts_seed| {
            let out = dir.path().join(sub);
            let opts = GenerateOptions {
                out: out.clone(),
                events: 600,
                accounts: 3,
                seed,
                accounts_seed,
                ..Default::default()
            };
            generate(&opts).unwrap();
            let seen: std::collections::BTreeSet<String> =
                accounts_and_principals(&out).into_iter().map(|(a, _)| a).collect();
            seen
        };
        let (a, b) = (accounts("a", 1, Some(9)), accounts("b", 2, Some(9)));
        assert_eq!(a.len(), 3);
        assert_eq!(a, b);
        assert_ne!(accounts("c", 1, None), accounts("d", 2, None));
    }

    #[test]
    fn minutes_give_only_the_deliveries_of_that_window() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("five");
        let s = generate(&GenerateOptions {
            out: out.clone(),
            events: 300,
            accounts: 2,
            start_day: lake::time::days_from_civil(2026, 11, 9),
            start_minute: 12 * 60,
            minutes: Some(5),
            ..Default::default()
        })
        .unwrap();
        // One delivery per account and region, all in the 12:00 slot of 2026-11-09.
        assert_eq!(s.files, 2 * REGIONS.len() as u64);
        assert_eq!(s.events, 300 + s.planted);
        let names: Vec<String> = files_under(&out)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "gz"))
            .map(|p| p.display().to_string())
            .collect();
        assert!(names.iter().all(|n| n.contains("/2026/11/09/") && n.contains("_20261109T1205Z_")), "{names:?}");
        // The scenarios keep their times of the first day, none of them in this window.
        let planted = std::fs::read_to_string(out.join("planted.tsv")).unwrap();
        assert_eq!((s.planted, planted.lines().count()), (0, 1), "{planted}");
    }

    #[test]
    fn digests_sign_every_hour_of_every_chain_and_verify_clean() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("signed");
        let s = generate(&GenerateOptions {
            out: out.clone(),
            events: 600,
            accounts: 1,
            minutes: Some(175),
            digests: true,
            ..Default::default()
        })
        .unwrap();
        let text = std::fs::read_to_string(out.join("public-keys.json")).unwrap();
        let keys = integrity::keys::PublicKeys::from_json(&text, "public-keys.json").unwrap();
        let reports = integrity::folder::verify_folder(&out, &keys, &integrity::folder::Scope::default()).unwrap();
        assert_eq!(reports.len(), REGIONS.len());
        for r in &reports {
            assert!(r.is_clean(), "{:?}", r.findings);
            assert_eq!(r.signatures_unchecked, 0);
            assert!(r.digests_valid >= 2, "{r:?}");
        }
        let logs: usize = reports.iter().map(|r| r.logs_valid).sum();
        assert_eq!(logs as u64, s.files, "every log file is listed by a digest");
    }

    #[test]
    fn tamper_edits_deletes_and_adds_a_log_and_breaks_a_chain_each_reported_with_its_key() {
        use integrity::chain::Finding;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tampered");
        let s = generate(&GenerateOptions {
            out: out.clone(),
            events: 3_000,
            accounts: 1,
            minutes: Some(240),
            tamper: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.tampered, 4);
        let planted = std::fs::read_to_string(out.join("planted.tsv")).unwrap();
        let done: BTreeMap<String, String> = planted
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                f[3].starts_with("tamper-").then(|| (f[3].to_string(), f[4].to_string()))
            })
            .collect();
        assert_eq!(done.keys().map(String::as_str).collect::<Vec<_>>(), {
            let mut t = crate::TAMPERINGS.to_vec();
            t.sort();
            t
        });
        let text = std::fs::read_to_string(out.join("public-keys.json")).unwrap();
        let keys = integrity::keys::PublicKeys::from_json(&text, "public-keys.json").unwrap();
        let reports = integrity::folder::verify_folder(&out, &keys, &integrity::folder::Scope::default()).unwrap();
        let findings: Vec<&Finding> = reports.iter().flat_map(|r| &r.findings).collect();
        let about = |key: &str| findings.iter().filter(|f| format!("{f:?}").contains(&format!("\"{key}\""))).count();
        for (what, key) in &done {
            let expected = findings.iter().filter(|f| match (what.as_str(), f) {
                ("tamper-log-altered", Finding::LogAltered { key: k, .. }) => k == key,
                ("tamper-log-deleted", Finding::LogMissing { key: k, .. }) => k == key,
                ("tamper-log-added", Finding::LogUnlisted { key: k }) => k == key,
                ("tamper-digest-deleted", Finding::DigestMissing { key: k, .. }) => k == key,
                _ => false,
            });
            assert_eq!(expected.count(), 1, "{what} {key}: {findings:#?}");
            assert_eq!(about(key), 1, "{key} is reported once: {findings:#?}");
        }
        // The chain with the deleted digest: its hour is a gap and its logs are in no digest;
        // every other chain is clean.
        let broken: Vec<_> = reports.iter().filter(|r| !r.is_clean()).collect();
        assert_eq!(broken.len(), 4, "{broken:#?}");
        let chain =
            broken.iter().find(|r| r.findings.iter().any(|f| matches!(f, Finding::DigestMissing { .. }))).unwrap();
        assert_eq!(chain.gaps, 1, "{:?}", chain.findings);
        assert!(chain.findings.iter().all(|f| matches!(
            f,
            Finding::DigestMissing { .. }
                | Finding::ChainGap { hours: 1, restarted: false, .. }
                | Finding::LogUnlisted { .. }
        )));
    }
}
