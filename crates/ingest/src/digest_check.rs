//! Continuous log file integrity validation: CloudTrail's digest files checked as they
//! arrive, against the log files the lake already has (their SHA-256 is kept in the ledger
//! when they are ingested) and against those that arrive later.
//!
//! For each digest: its signature (public keys from `--public-keys` or CloudTrail's
//! `ListPublicKeys` in its region), its location, its link to the previous digest of its
//! chain as the lake has it (`integrity` table), and each log file it lists: `valid` (the
//! lake's copy has the listed hash), `altered`, `missing` (neither in the lake nor in the
//! bucket) or `pending` (still to arrive; resolved when it does). The outcome is one row of
//! the `integrity` table per digest and one ledger row per listed log file
//! ([`lake::LogIntegrity`]), committed with the run, so a redelivered digest is skipped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use integrity::digest::Digest;
use integrity::keys::PublicKeys;
use lake::{DigestCheck, EntryKind, KnownDigest, Lake, LedgerEntry, LogIntegrity, PendingLog};

use crate::aws::AwsOptions;
use crate::layout::canonical_name;
use crate::object::SourceObject;
use crate::{IngestError, Result};

/// How digests are checked.
#[derive(Debug, Clone, Default)]
pub enum KeySource {
    /// Keys as `aws cloudtrail list-public-keys` printed them.
    File(Arc<PublicKeys>),
    /// CloudTrail's `ListPublicKeys` in each digest's region (cached per region).
    #[default]
    ListPublicKeys,
}

/// Continuous validation settings.
#[derive(Debug, Clone)]
pub struct IntegrityOptions {
    /// Check digest files (and keep each log file's SHA-256). On by default.
    pub enabled: bool,
    pub keys: KeySource,
    /// For `ListPublicKeys`.
    pub aws: AwsOptions,
    /// How long a listed log file may be absent from both the lake and the bucket before
    /// it is recorded `missing` (deleted). Until then it is `pending`: a bucket synced or
    /// replayed into a notified one delivers digests before the logs they list.
    pub missing_after: std::time::Duration,
}

/// [`IntegrityOptions::missing_after`]'s default.
pub const MISSING_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

impl Default for IntegrityOptions {
    fn default() -> Self {
        IntegrityOptions {
            enabled: true,
            keys: KeySource::ListPublicKeys,
            aws: AwsOptions::default(),
            missing_after: MISSING_AFTER,
        }
    }
}

/// A digest file as it arrived, with its signature (S3 metadata `signature`, or a
/// `.signature` sidecar beside a local copy).
#[derive(Debug, Clone)]
pub struct ArrivedDigest {
    pub object: SourceObject,
    /// The bucket it was found in (S3), to tell a moved digest.
    pub bucket: Option<String>,
    pub gz: Bytes,
    pub signature: Option<String>,
}

/// Where a listed log file that the lake lacks is looked for: still in the bucket (it will
/// arrive: pending) or not (deleted: missing).
#[derive(Debug, Clone)]
pub enum Store {
    /// A local copy of the bucket, or of a folder of it (`AWSLogs/o-x/111122223333/...`).
    Local {
        root: PathBuf,
    },
    S3(aws_sdk_s3::Client),
}

impl Store {
    /// Whether the log file `key` (in `bucket`) is still there; `None` when this store
    /// cannot tell (a local folder of one account does not hold another's files).
    async fn exists(&self, bucket: &str, key: &str) -> Result<Option<bool>> {
        match self {
            Store::Local { root } => {
                if let Some(prefix) = crate::source::layout_prefix(root)
                    && !canonical_name(key).starts_with(&prefix)
                {
                    return Ok(None);
                }
                // The copy may start at any folder of the key: try each.
                let mut rest = key;
                loop {
                    if root.join(rest).is_file() {
                        return Ok(Some(true));
                    }
                    match rest.split_once('/') {
                        Some((_, tail)) if !tail.is_empty() => rest = tail,
                        _ => return Ok(Some(false)),
                    }
                }
            }
            Store::S3(client) => match client.head_object().bucket(bucket).key(key).send().await {
                Ok(_) => Ok(Some(true)),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(Some(false)),
                Err(e) => Err(IngestError::Aws(crate::aws::failure::explain(
                    &e,
                    "HeadObject",
                    &format!("s3://{bucket}/{key}"),
                ))),
            },
        }
    }
}

/// What one check adds to a run's commit.
#[derive(Debug, Default)]
pub struct Checked {
    /// Ledger rows: each digest's own, and each listed (or pending) log file's outcome.
    pub ledger: Vec<LedgerEntry>,
    /// Rows of the `integrity` table.
    pub digests: Vec<DigestCheck>,
}

/// Checks digests as runs bring them; remembers the log files still to arrive.
#[derive(Debug)]
pub struct Verifier {
    opts: IntegrityOptions,
    /// Keys fetched with `ListPublicKeys`, by region.
    fetched: HashMap<String, PublicKeys>,
    /// Regions whose `ListPublicKeys` failed, when and why: not asked again for a while.
    failed: HashMap<String, (std::time::Instant, String)>,
    /// Listed log files not in the lake (pending, or missing and still awaited), by name.
    pending: HashMap<String, PendingLog>,
    /// When the bucket was last asked about pending files past `missing_after`.
    last_sweep: Option<std::time::Instant>,
}

/// How often pending files past their grace are looked for in the bucket, at most.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a region whose `ListPublicKeys` failed is not asked again.
const KEYS_RETRY: std::time::Duration = std::time::Duration::from_secs(600);

/// How far back the chain's earlier digests are looked for (a day and a half: the hour
/// before, and a restart after a stop of a day).
const CHAIN_LOOKBACK_MICROS: i64 = 36 * 3_600_000_000;

impl Verifier {
    /// A verifier for `lake`, knowing the log files its digests still wait for.
    pub async fn new(lake: &Lake, opts: IntegrityOptions) -> Result<Verifier> {
        let pending = lake.pending_logs().await?.into_iter().map(|p| (p.name.clone(), p)).collect();
        Ok(Verifier { opts, fetched: HashMap::new(), failed: HashMap::new(), pending, last_sweep: None })
    }

    /// Forgets what this process expected and reads the pending log files from the lake
    /// again (after a window that was not committed).
    pub async fn reload(&mut self, lake: &Lake) -> Result<()> {
        self.pending = lake.pending_logs().await?.into_iter().map(|p| (p.name.clone(), p)).collect();
        Ok(())
    }

    /// Whether a run with these ledger entries and digests has anything to check.
    pub fn has_work(&self, entries: &[LedgerEntry], digests: &[ArrivedDigest]) -> bool {
        !digests.is_empty() || entries.iter().any(|e| self.pending.contains_key(&e.name)) || self.sweep_due()
    }

    /// Whether pending files have been absent for `missing_after` and the bucket was not
    /// asked about them in the last minute.
    fn sweep_due(&self) -> bool {
        let grace = i64::try_from(self.opts.missing_after.as_micros()).unwrap_or(i64::MAX);
        let now = lake::time::now_micros();
        self.last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY)
            && self.pending.values().any(|p| !p.missing && now.saturating_sub(p.since) >= grace)
    }

    /// Log files listed by a digest and not in the lake yet (pending or missing).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Checks a run's digests, and resolves the pending log files the run brought (or
    /// that another ingester brought, or that have gone from the bucket since).
    /// `entries` are the run's own ledger entries (its log files, with their hashes).
    pub async fn check(
        &mut self,
        lake: &Lake,
        digests: Vec<ArrivedDigest>,
        entries: &[LedgerEntry],
        store: &Store,
    ) -> Result<Checked> {
        let mut out = Checked::default();
        let run_hashes: HashMap<&str, Option<&str>> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::LogFile)
            .map(|e| (e.name.as_str(), e.sha256.as_deref()))
            .collect();

        // Parse; what cannot be read is reported with its key and the rest goes on.
        let mut parsed = Vec::new();
        for d in digests {
            let name = canonical_name(&d.object.key).to_string();
            let mut own = LedgerEntry {
                name: name.clone(),
                uri: d.object.uri.clone(),
                size: d.object.size,
                etag: d.object.etag.clone(),
                events: 0,
                error: None,
                sha256: None,
                kind: EntryKind::Digest,
            };
            match Digest::from_gzip(&d.gz, &d.object.uri) {
                Ok(digest) => {
                    own.sha256 = Some(digest.hash());
                    parsed.push((d, digest));
                }
                Err(e) => {
                    tracing::warn!(digest = %d.object.uri, error = %e, "Digest file unreadable.");
                    let (account, region) = chain_of(&name);
                    own.error = Some(e.to_string());
                    out.digests.push(DigestCheck {
                        digest: name,
                        account,
                        region,
                        status: "unreadable".into(),
                        chain: "none".into(),
                        message: Some(e.to_string()),
                        ..Default::default()
                    });
                }
            }
            out.ledger.push(own);
        }
        // Oldest first, the hourly chain apart from the backfill one.
        parsed.sort_by_key(|(d, g)| {
            (Digest::is_backfill_key(&d.object.key), time(&g.fields.digest_end_time), d.object.key.clone())
        });

        // What the lake knows: earlier digests of these chains, and the listed files' hashes.
        let chains: BTreeSet<(String, String)> =
            parsed.iter().map(|(d, _)| chain_of(canonical_name(&d.object.key))).collect();
        let oldest = parsed.iter().filter_map(|(_, g)| time(&g.fields.digest_start_time)).min();
        let mut known: Vec<KnownDigest> = match oldest {
            Some(t) => lake.known_digests(&chains.into_iter().collect::<Vec<_>>(), t - CHAIN_LOOKBACK_MICROS).await?,
            None => vec![],
        };
        let mut wanted: HashSet<String> = HashSet::new();
        for (_, g) in &parsed {
            for l in &g.fields.log_files {
                let n = canonical_name(&l.s3_object);
                if !run_hashes.contains_key(n) {
                    wanted.insert(n.to_string());
                }
            }
        }
        let in_run = &run_hashes;
        let awaited = |missing: bool| {
            self.pending.values().filter(move |p| p.missing == missing && !in_run.contains_key(p.name.as_str()))
        };
        wanted.extend(awaited(false).map(|p| p.name.clone()));
        let since = oldest.map(|t| t - 24 * 3_600_000_000);
        let mut lake_hashes = lake.ledger_hashes(&wanted, since).await?;
        // A file recorded missing is looked for only among the rows written since a digest
        // first listed it: it may never come, and a whole-ledger scan for it would run on
        // every digest.
        let gone: HashSet<String> = awaited(true).map(|p| p.name.clone()).collect();
        if let Some(first) = awaited(true).map(|p| p.since).min() {
            lake_hashes.extend(lake.ledger_hashes_written_since(&gone, first).await?);
        }
        let hash_of = |name: &str| -> Option<Option<String>> {
            match run_hashes.get(name) {
                Some(h) => Some(h.map(str::to_string)),
                None => lake_hashes.get(name).cloned(),
            }
        };

        for (arrived, digest) in &parsed {
            let row = self.check_one(arrived, digest, &known, &hash_of, store, &mut out.ledger).await?;
            known.push(KnownDigest {
                digest: row.digest.clone(),
                account: row.account.clone(),
                region: row.region.clone(),
                end: row.end,
                backfill: row.backfill,
                hash: row.hash.clone(),
                signature: row.signature.clone(),
            });
            out.digests.push(row);
        }

        // Pending and missing files: arrived with this run or another ingester's (valid or
        // altered, whatever was said of them before), or absent past their grace (missing).
        let grace = i64::try_from(self.opts.missing_after.as_micros()).unwrap_or(i64::MAX);
        let now = lake::time::now_micros();
        let sweep = self.sweep_due();
        if sweep {
            self.last_sweep = Some(std::time::Instant::now());
        }
        let (mut resolved, mut gone) = (vec![], vec![]);
        for (name, p) in &self.pending {
            if out.ledger.iter().any(|e| &e.name == name && matches!(e.kind, EntryKind::Integrity { .. })) {
                continue;
            }
            let outcome = match hash_of(name) {
                Some(Some(h)) if h.eq_ignore_ascii_case(&p.sha256) => LogIntegrity::Valid,
                Some(_) => LogIntegrity::Altered,
                None if p.missing || now.saturating_sub(p.since) < grace => continue,
                None => {
                    // Only worth a request when a digest run looks anyway, or once a minute.
                    if parsed.is_empty() && !sweep {
                        continue;
                    }
                    let location = p.location.strip_prefix("s3://").unwrap_or(&p.location);
                    let (bucket, key) = location.split_once('/').unwrap_or(("", location));
                    match store.exists(bucket, key).await {
                        Ok(Some(false)) => LogIntegrity::Missing,
                        _ => continue,
                    }
                }
            };
            out.ledger.push(LedgerEntry::integrity(name, &p.digest, &p.sha256, outcome));
            if outcome == LogIntegrity::Missing {
                gone.push(name.clone());
            } else {
                resolved.push(name.clone());
            }
        }
        for name in resolved {
            self.pending.remove(&name);
        }
        for name in gone {
            if let Some(p) = self.pending.get_mut(&name) {
                p.missing = true;
            }
        }
        // What this run found absent is awaited: pending until its grace ends, and a
        // missing file that lands later still turns valid or altered.
        for e in &out.ledger {
            if let EntryKind::Integrity { outcome: outcome @ (LogIntegrity::Pending | LogIntegrity::Missing), digest } =
                &e.kind
            {
                let sha256 = e.sha256.clone().unwrap_or_default();
                let missing = *outcome == LogIntegrity::Missing;
                self.pending.entry(e.name.clone()).and_modify(|p| p.missing |= missing).or_insert(PendingLog {
                    name: e.name.clone(),
                    sha256,
                    digest: digest.clone(),
                    location: e.uri.clone(),
                    since: now,
                    missing,
                });
            }
        }
        Ok(out)
    }

    async fn check_one(
        &mut self,
        arrived: &ArrivedDigest,
        digest: &Digest,
        known: &[KnownDigest],
        hash_of: &dyn Fn(&str) -> Option<Option<String>>,
        store: &Store,
        ledger: &mut Vec<LedgerEntry>,
    ) -> Result<DigestCheck> {
        let f = &digest.fields;
        let name = canonical_name(&arrived.object.key).to_string();
        let (account, region) = chain_of(&name);
        let backfill = Digest::is_backfill_key(&name);
        let hash = digest.hash();
        let mut row = DigestCheck {
            digest: name.clone(),
            account: account.clone(),
            region: region.clone(),
            start: time(&f.digest_start_time),
            end: time(&f.digest_end_time),
            backfill,
            previous_digest: f.previous_digest_s3_object.as_deref().map(|k| canonical_name(k).to_string()),
            hash: Some(hash.clone()),
            signature: arrived.signature.clone(),
            ..Default::default()
        };

        // Signature and location.
        let moved = canonical_name(&f.digest_s3_object) != name
            || arrived.bucket.as_deref().is_some_and(|b| b != f.digest_s3_bucket);
        row.status = if moved {
            row.message = Some(format!("it names s3://{}/{}", f.digest_s3_bucket, f.digest_s3_object));
            "moved".into()
        } else {
            match arrived.signature.as_deref() {
                // A local copy keeps no metadata: only a sidecar would have it.
                None if arrived.bucket.is_none() => "unsigned".into(),
                None => {
                    row.message = Some("the object has no signature metadata (CloudTrail always writes it)".into());
                    "invalid_signature".into()
                }
                Some(hex) => match integrity::unhex(hex) {
                    None => "signature_not_hex".into(),
                    Some(sig) => match self.key(&region, &f.digest_public_key_fingerprint, row.end).await {
                        Err(message) => {
                            row.message = Some(message);
                            "unknown_key".into()
                        }
                        Ok(der) if integrity::keys::verify(&der, digest.string_to_sign().as_bytes(), &sig) => {
                            "valid".into()
                        }
                        Ok(_) => "invalid_signature".into(),
                    },
                },
            }
        };

        // The chain, as the lake has it.
        let same_chain: Vec<&KnownDigest> = known
            .iter()
            .filter(|k| k.account == account && k.region == region && k.backfill == backfill && k.digest != name)
            .collect();
        let earlier: Option<&KnownDigest> =
            same_chain.iter().filter(|k| k.end.is_some() && k.end <= row.start).max_by_key(|k| k.end).copied();
        row.chain = match &row.previous_digest {
            None if earlier.is_some() && !backfill => "restarted".into(),
            None => "first".into(),
            Some(link) => match same_chain.iter().rev().find(|k| &k.digest == link) {
                Some(prev) => {
                    let hash_ok = f.previous_digest_hash_value.as_deref() == prev.hash.as_deref();
                    let sig_ok =
                        prev.signature.is_none() || f.previous_digest_signature.as_deref() == prev.signature.as_deref();
                    if hash_ok && sig_ok { "linked".into() } else { "broken".into() }
                }
                None if earlier.is_some() => "previous_missing".into(),
                None => "first".into(),
            },
        };
        if let (Some(e), Some(start), false) = (earlier.and_then(|k| k.end), row.start, backfill) {
            row.gap_hours = (start - e).max(0) / 3_600_000_000;
        }

        // The log files it lists.
        for l in &f.log_files {
            let log = canonical_name(&l.s3_object).to_string();
            row.logs_listed += 1;
            let outcome = match hash_of(&log) {
                Some(Some(h)) if h.eq_ignore_ascii_case(&l.hash_value) => LogIntegrity::Valid,
                Some(Some(_)) => LogIntegrity::Altered,
                // Quarantined without inflating, or ingested before hashes were kept.
                Some(None) => LogIntegrity::Altered,
                None => match store.exists(&l.s3_bucket, &l.s3_object).await {
                    Ok(Some(true) | None) => LogIntegrity::Pending,
                    // Neither here nor in the bucket: deleted, or not uploaded yet (a synced
                    // or replayed bucket brings digests first). Missing once its grace ends.
                    Ok(Some(false)) if self.opts.missing_after.is_zero() => LogIntegrity::Missing,
                    Ok(Some(false)) => LogIntegrity::Pending,
                    Err(e) => {
                        tracing::warn!(log = %l.s3_object, error = %e, "Cannot tell whether a listed log file is still in the bucket; checking it when it arrives.");
                        LogIntegrity::Pending
                    }
                },
            };
            match outcome {
                LogIntegrity::Valid => row.logs_valid += 1,
                LogIntegrity::Altered => row.logs_altered += 1,
                LogIntegrity::Missing => row.logs_missing += 1,
                LogIntegrity::Pending => row.logs_pending += 1,
            }
            let mut entry = LedgerEntry::integrity(&log, &name, &l.hash_value, outcome);
            // Where the digest says the file is (where a pending one is looked for again).
            entry.uri = format!("s3://{}/{}", l.s3_bucket, l.s3_object);
            ledger.push(entry);
        }
        if row.has_problem() {
            tracing::warn!(
                digest = %name,
                status = %row.status,
                chain = %row.chain,
                altered = row.logs_altered,
                missing = row.logs_missing,
                "Log file integrity problem."
            );
        }
        Ok(row)
    }

    /// The DER key with `fingerprint` for `region`: from the file, or `ListPublicKeys`
    /// (fetched once per region, again when a fingerprint is new).
    async fn key(&mut self, region: &str, fingerprint: &str, at: Option<i64>) -> std::result::Result<Vec<u8>, String> {
        let missing = || format!("no public key with fingerprint {fingerprint} for {region}");
        match &self.opts.keys {
            KeySource::File(keys) => keys.get(fingerprint).map(<[u8]>::to_vec).ok_or_else(missing),
            KeySource::ListPublicKeys => {
                if let Some(der) = self.fetched.get(region).and_then(|k| k.get(fingerprint)) {
                    return Ok(der.to_vec());
                }
                if let Some((when, why)) = self.failed.get(region)
                    && when.elapsed() < KEYS_RETRY
                {
                    return Err(why.clone());
                }
                let now = lake::time::now_micros() / 1_000_000;
                let start = at.map_or(now, |t| t / 1_000_000) - 86_400;
                let list = match self.opts.aws.list_public_keys(region, start, now).await {
                    Ok(list) => list,
                    Err(e) => {
                        tracing::warn!(region, error = %e, "Cannot fetch CloudTrail's public keys; digests of this region are recorded with status unknown_key (give --public-keys to check offline).");
                        self.failed.insert(region.to_string(), (std::time::Instant::now(), e.clone()));
                        return Err(e);
                    }
                };
                let keys =
                    PublicKeys::from_list(&list, &format!("ListPublicKeys in {region}")).map_err(|e| e.to_string())?;
                self.fetched.entry(region.to_string()).or_default().merge(keys);
                self.fetched.get(region).and_then(|k| k.get(fingerprint)).map(<[u8]>::to_vec).ok_or_else(missing)
            }
        }
    }
}

/// (account, region) of a digest's key.
fn chain_of(key: &str) -> (String, String) {
    match integrity::folder::classify(key) {
        Some((account, region, _)) => (account.to_string(), region.to_string()),
        None => (String::new(), String::new()),
    }
}

/// Microseconds of a digest's time field.
fn time(text: &str) -> Option<i64> {
    lake::time::parse_canonical(text).or_else(|| lake::time::parse_lenient(text))
}
