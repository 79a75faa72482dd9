//! The files: CloudTrail's S3 key layout and file naming, gzip, and `planted.tsv`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use lake::time::civil_from_days;

use crate::error::{GenerateError, Result};
use crate::json::timestamp;
use crate::rng::Rng;
use crate::scenarios::Plant;
use crate::spec::Account;

/// The folder of an account's logs for a region and a day (days since 1970-01-01):
/// `<out>/AWSLogs[/<org>]/<account>/CloudTrail/<region>/YYYY/MM/DD`, the organization
/// level only for an organization trail.
pub(crate) fn log_folder(out: &Path, org: Option<&str>, account: &str, region: &str, day: i64) -> PathBuf {
    let (y, m, d) = civil_from_days(day);
    let mut dir = out.join("AWSLogs");
    if let Some(org) = org {
        dir = dir.join(org);
    }
    dir.join(account)
        .join("CloudTrail")
        .join(region)
        .join(format!("{y:04}"))
        .join(format!("{m:02}"))
        .join(format!("{d:02}"))
}

/// The name CloudTrail gives a file delivered at `end` (seconds since the epoch):
/// `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 random letters and digits>.json.gz`.
pub(crate) fn log_file_name(rng: &mut Rng, account: &str, region: &str, end: i64) -> String {
    let (y, m, d) = civil_from_days(end.div_euclid(86_400));
    let sod = end.rem_euclid(86_400);
    let mut name =
        format!("{account}_CloudTrail_{region}_{y:04}{m:02}{d:02}T{:02}{:02}Z_", sod / 3600, (sod % 3600) / 60);
    rng.alnum(16, &mut name);
    name.push_str(".json.gz");
    name
}

/// Writes `json` gzip-compressed (through `gz`, a buffer reused from file to file) as
/// `folder/name`, creating the folder; returns the file's size.
pub(crate) fn write_log_file(folder: &Path, name: &str, json: &str, gz: &mut Vec<u8>) -> Result<u64> {
    std::fs::create_dir_all(folder).map_err(|e| GenerateError::io(folder, e))?;
    gz.clear();
    let mut enc = GzEncoder::new(&mut *gz, Compression::new(6));
    enc.write_all(json.as_bytes()).map_err(|e| GenerateError::io(folder, e))?;
    enc.finish().map_err(|e| GenerateError::io(folder, e))?;
    let path = folder.join(name);
    std::fs::write(&path, &*gz).map_err(|e| GenerateError::io(&path, e))?;
    Ok(gz.len() as u64)
}

/// Writes `out/planted.tsv`: one line per planted scenario (`time`, `account`, `region`,
/// `scenario`, and `key`: the object a tampering concerns, empty for events), under a header.
pub(crate) fn write_planted(out: &Path, plants: &[Plant], accounts: &[Account]) -> Result<()> {
    let mut tsv = String::from("time\taccount\tregion\tscenario\tkey\tactor\n");
    for p in plants {
        let (at, account, scenario) = (timestamp(p.at), &accounts[p.account].id, p.scenario.name());
        let _ = writeln!(tsv, "{at}\t{account}\t{}\t{scenario}\t\t{}", p.region, p.scenario.actor());
    }
    let path = out.join("planted.tsv");
    std::fs::create_dir_all(out).map_err(|e| GenerateError::io(out, e))?;
    std::fs::write(&path, tsv).map_err(|e| GenerateError::io(&path, e))?;
    Ok(())
}
