//! `--tamper`: what an attacker who reaches the log bucket does to a generated corpus
//! with digests (one change per chain, so each shows up on its own), listed in
//! `planted.tsv` with the key it concerns.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{GenerateError, Result};
use crate::json::timestamp;

/// One account/region chain as written: its hourly digests, oldest first, each with its end
/// time (seconds) and the log files it lists.
#[derive(Debug, Clone)]
pub(crate) struct WrittenChain {
    pub account: String,
    pub region: String,
    pub digests: Vec<WrittenDigest>,
}

#[derive(Debug, Clone)]
pub(crate) struct WrittenDigest {
    pub key: String,
    pub end: i64,
    /// (delivery time in seconds, key)
    pub logs: Vec<(i64, String)>,
}

/// What each tampering is called in `planted.tsv`'s `scenario` column.
pub const TAMPERINGS: [&str; 4] =
    ["tamper-log-altered", "tamper-log-deleted", "tamper-log-added", "tamper-digest-deleted"];

/// Applies the four tamperings to the first four chains with three or more digests whose
/// second digest lists a log file, and appends what was done to `planted.tsv`.
pub(crate) fn tamper(out: &Path, chains: &[WrittenChain]) -> Result<usize> {
    let usable: Vec<&WrittenChain> =
        chains.iter().filter(|c| c.digests.len() >= 3 && !c.digests[1].logs.is_empty()).collect();
    if usable.len() < TAMPERINGS.len() {
        return Err(GenerateError::Tamper(format!(
            "needs {} account/region chains of at least 3 hours with logs, found {} (more --accounts, --days or --events)",
            TAMPERINGS.len(),
            usable.len()
        )));
    }
    let mut tsv = String::new();
    let mut line = |at: i64, chain: &WrittenChain, what: &str, key: &str| {
        let _ = writeln!(tsv, "{}\t{}\t{}\t{what}\t{key}", timestamp(at), chain.account, chain.region);
    };
    // An edit: the file's last record removed (what a careful attacker does to hide a call).
    let (chain, (at, key)) = (usable[0], &usable[0].digests[1].logs[0]);
    let path = out.join(key);
    let gz = std::fs::read(&path).map_err(|e| GenerateError::io(&path, e))?;
    let json = integrity::gunzip(&gz).map_err(|e| GenerateError::io(&path, e))?;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| GenerateError::Tamper(format!("{key}: {e}")))?;
    if let Some(records) = doc.get_mut("Records").and_then(|r| r.as_array_mut()) {
        if records.len() > 1 {
            records.pop();
        } else if let Some(first) = records.first_mut() {
            first["eventName"] = serde_json::Value::from("DescribeInstances");
        }
    }
    let edited = serde_json::to_vec(&doc).map_err(|e| GenerateError::Tamper(format!("{key}: {e}")))?;
    std::fs::write(&path, integrity::signer::gzip(&edited)).map_err(|e| GenerateError::io(&path, e))?;
    line(*at, chain, TAMPERINGS[0], key);
    // A deletion.
    let (chain, (at, key)) = (usable[1], &usable[1].digests[1].logs[0]);
    let path = out.join(key);
    std::fs::remove_file(&path).map_err(|e| GenerateError::io(&path, e))?;
    line(*at, chain, TAMPERINGS[1], key);
    // A forgery: a copy of a real file under a new name delivered in the same hour.
    let (chain, (at, key)) = (usable[2], &usable[2].digests[1].logs[0]);
    let forged = match key.rsplit_once('_') {
        Some((stem, _)) => format!("{stem}_F0rg3dF0rg3dF0rg.json.gz"),
        None => format!("{key}.forged.json.gz"),
    };
    let (from, to) = (out.join(key), out.join(&forged));
    std::fs::copy(&from, &to).map_err(|e| GenerateError::io(&to, e))?;
    line(*at, chain, TAMPERINGS[2], &forged);
    // A broken chain: a digest deleted (with its signature sidecar).
    let (chain, digest) = (usable[3], &usable[3].digests[1]);
    for path in [out.join(&digest.key), out.join(format!("{}.signature", digest.key))] {
        std::fs::remove_file(&path).map_err(|e| GenerateError::io(&path, e))?;
    }
    line(digest.end, chain, TAMPERINGS[3], &digest.key);
    let planted = out.join("planted.tsv");
    let mut text = std::fs::read_to_string(&planted).map_err(|e| GenerateError::io(&planted, e))?;
    text.push_str(&tsv);
    std::fs::write(&planted, text).map_err(|e| GenerateError::io(&planted, e))?;
    Ok(TAMPERINGS.len())
}
