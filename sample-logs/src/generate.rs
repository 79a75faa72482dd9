//! The corpus: the accounts, then one file per account, region and 5-minute slot, the
//! routine events spread over them by region weight, and the planted scenarios in the file
//! of their slot.

use crate::error::Result;
use crate::events::{EventWriter, Login};
use crate::rng::Rng;
use crate::scenarios::{Plant, planted};
use crate::spec::{Account, GenerateOptions, REGIONS, USERS, org_id};
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
}

/// CloudTrail delivers a file per account and region about every five minutes.
const SLOT_SECS: i64 = 300;
const SLOTS_PER_DAY: u64 = 288;

/// Generates the corpus under `opts.out`: the log files, and `planted.tsv` listing the
/// planted scenarios. The same options give byte-identical files.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateSummary> {
    let accounts_n = opts.accounts.max(1) as usize;
    let mut rng = Rng::new(opts.seed);
    let accounts: Vec<Account> = (0..accounts_n).map(|i| Account::new(i, &mut rng)).collect();
    let org = org_id(&mut rng);
    let org_level = opts.org_trail.then_some(org.as_str());
    let mut w = EventWriter::new(rng);

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
    let plants: Vec<Plant> =
        planted(day_start, accounts_n).into_iter().filter(|p| (start_secs..end_secs).contains(&p.at)).collect();
    let mut summary = GenerateSummary::default();

    // Events per file: the region's weight with jitter, scaled so the total is exact.
    let mut remaining = opts.events;
    let mut remaining_weight: f64 = 0.0;
    let mut weights = Vec::with_capacity(files_total as usize);
    for _ in 0..accounts_n {
        for (_, region_weight) in REGIONS {
            for _ in 0..slots {
                let jitter = 0.25 + (w.rng.below(1000) as f64) / 666.0;
                let weight = f64::from(*region_weight) / f64::from(region_total) * jitter;
                weights.push(weight);
                remaining_weight += weight;
            }
        }
    }

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
                        // Routine console logins, mostly with MFA.
                        let who = *w.rng.pick(USERS);
                        let mfa = w.rng.chance(0.97);
                        let ip = w.rng.pick(&acct.ips);
                        w.console_login(&mut out, acct, t, &Login { who, mfa, success: true, ip });
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
            }
        }
    }
    summary.events += summary.planted;
    write_planted(&opts.out, &plants, &accounts)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut files: Vec<(String, Vec<u8>)> = vec![];
            let mut stack = vec![out.clone()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        stack.push(p)
                    } else {
                        files.push((p.strip_prefix(&out).unwrap().display().to_string(), std::fs::read(&p).unwrap()))
                    }
                }
            }
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
        let mut stack = vec![out.clone()];
        let mut names = vec![];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p)
                } else if p.extension().is_some_and(|x| x == "gz") {
                    names.push(p.display().to_string());
                }
            }
        }
        assert!(names.iter().all(|n| n.contains("/2026/11/09/") && n.contains("_20261109T1205Z_")), "{names:?}");
        // The scenarios keep their times of the first day, none of them in this window.
        let planted = std::fs::read_to_string(out.join("planted.tsv")).unwrap();
        assert_eq!((s.planted, planted.lines().count()), (0, 1), "{planted}");
    }
}
