//! `trailhouse verify` and the log files no digest covers, run as a user would: a signed
//! generated trail (two accounts in six regions, digests for 00:00-02:00 of 2026-11-02),
//! then log files planted where no digest covers them, in a folder and in an S3 bucket.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use test_support::{keys_under, run_ok, trailhouse, upload_trail};

/// Two hours of an organization trail's generated logs, two accounts in six regions, under
/// `dir/bucket`, with signed digests naming `bucket`: (the folder, its public-keys file).
fn signed_trail(dir: &Path, bucket: &str) -> (PathBuf, PathBuf) {
    let logs = dir.join("bucket");
    run_ok(
        trailhouse()
            .args(["generate", "--digests", "--bucket", bucket, "--events", "400", "--accounts", "2", "--seed", "5"])
            .args(["--minutes", "115", "--out"])
            .arg(&logs),
    );
    let keys = logs.join("public-keys.json");
    (logs, keys)
}

/// Each account/region's report of `verify --json` output.
fn reports_of(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The entries of one list (`findings` or `notes`) of every report, all chains together.
fn all_of(out: &Output, list: &str) -> Vec<Value> {
    reports_of(out).iter().flat_map(|r| r[list].as_array().unwrap().clone()).collect()
}

/// The keys of the entries of `list` whose problem is `problem`, sorted.
fn keys_of(out: &Output, list: &str, problem: &str) -> Vec<String> {
    let mut keys: Vec<String> = all_of(out, list)
        .iter()
        .filter(|f| f["problem"] == problem)
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// The sum of a counter over every report.
fn total(out: &Output, counter: &str) -> u64 {
    reports_of(out).iter().map(|r| r[counter].as_u64().unwrap()).sum()
}

/// The report of one account and region.
fn report(out: &Output, account: &str, region: &str) -> Value {
    reports_of(out).into_iter().find(|r| r["account"] == account && r["region"] == region).unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The key of a log file like `from` (a log key of the trail) delivered at `stamp`
/// (`YYYYMMDDTHHmmZ`) in `region`, as CloudTrail would name it.
fn log_key_like(from: &str, region: &str, stamp: &str, tag: &str) -> String {
    let (head, _) = from.split_once("/CloudTrail/").unwrap();
    let account = head.rsplit('/').next().unwrap();
    let (y, m, d) = (&stamp[0..4], &stamp[4..6], &stamp[6..8]);
    format!("{head}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{stamp}_{tag}.json.gz")
}

/// Log files planted where no digest covers them, each a copy of a real log file.
struct Planted {
    account: String,
    /// Three in a region the account has no digest in (ca-central-1), at 01:05-01:15.
    no_digests: Vec<String>,
    /// Two in us-east-1 at 05:05 and 05:10: three hours after its newest digest ends (02:00).
    after_last: Vec<String>,
    /// One in us-east-1 at 02:30, half an hour after its newest digest ends.
    recent: String,
}

impl Planted {
    fn new(logs: &Path) -> Planted {
        let real = keys_under(logs).into_iter().find(|k| k.contains("/CloudTrail/us-east-1/")).unwrap();
        let account = real.split_once("/CloudTrail/").unwrap().0.rsplit('/').next().unwrap().to_string();
        let at = |region: &str, stamp: &str, tag: &str| log_key_like(&real, region, stamp, tag);
        assert!(!keys_under(logs).iter().any(|k| k.contains("/ca-central-1/")), "the trail has no ca-central-1");
        Planted {
            no_digests: ["0105", "0110", "0115"]
                .iter()
                .map(|hm| at("ca-central-1", &format!("20261102T{hm}Z"), &format!("NoDigests{hm}xxx")))
                .collect(),
            after_last: ["0505", "0510"]
                .iter()
                .map(|hm| at("us-east-1", &format!("20261102T{hm}Z"), &format!("AfterLast{hm}xxx")))
                .collect(),
            recent: at("us-east-1", "20261102T0230Z", "Recent0230xxxxxx"),
            account,
        }
    }

    fn keys(&self) -> Vec<&String> {
        self.no_digests.iter().chain(&self.after_last).chain([&self.recent]).collect()
    }

    /// Every planted file no digest covers, sorted.
    fn uncovered(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.no_digests.iter().chain(&self.after_last).cloned().collect();
        keys.sort();
        keys
    }
}

/// Copies a real log file of the trail to each planted key.
fn plant(logs: &Path, planted: &Planted) {
    let real = keys_under(logs).into_iter().find(|k| k.contains("/CloudTrail/us-east-1/")).unwrap();
    for key in planted.keys() {
        let path = logs.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::copy(logs.join(&real), &path).unwrap();
    }
}

fn verify_folder(logs: &Path, keys: &Path, extra: &[&str]) -> Output {
    trailhouse()
        .args(["verify", "--json", "--public-keys"])
        .arg(keys)
        .arg("--source")
        .arg(logs)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_untouched_trail_has_no_log_file_no_digest_covers() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, keys) = signed_trail(dir.path(), "trail-bucket");
    let out = verify_folder(&logs, &keys, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(reports_of(&out).len(), 12);
    assert!(all_of(&out, "findings").is_empty() && all_of(&out, "notes").is_empty(), "{}", text(&out));
    for counter in ["logs_uncovered", "logs_uncovered_accepted", "logs_not_yet_covered"] {
        assert_eq!(total(&out, counter), 0, "{counter}");
    }
    let out = trailhouse().args(["verify", "--public-keys"]).arg(&keys).arg("--source").arg(&logs).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(", 0 uncovered\n") && stdout.ends_with("all valid.\n"), "{stdout}");
}

#[test]
fn log_files_no_digest_covers_fail_with_their_keys_unless_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, keys) = signed_trail(dir.path(), "trail-bucket");
    let planted = Planted::new(&logs);
    plant(&logs, &planted);

    let out = verify_folder(&logs, &keys, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    // Nothing but the planted files is reported, each with its key and reason.
    assert_eq!(keys_of(&out, "findings", "log_uncovered"), planted.uncovered());
    let reason = |key: &str| {
        all_of(&out, "findings").into_iter().find(|f| f["key"] == key).unwrap()["reason"].as_str().unwrap().to_string()
    };
    assert!(planted.no_digests.iter().all(|k| reason(k) == "no_digests"));
    assert!(planted.after_last.iter().all(|k| reason(k) == "after_last_digest"));
    let findings = all_of(&out, "findings");
    assert_eq!(findings.len(), 5 + 1, "five files and one account/region without digests: {findings:#?}");
    // The account/region with no digest: one finding with the count and span.
    let without = report(&out, &planted.account, "ca-central-1");
    assert_eq!(without["findings"][0]["problem"], "chain_without_digests");
    assert_eq!(without["findings"][0]["logs"], 3);
    assert_eq!(without["findings"][0]["first"], planted.no_digests[0].as_str());
    assert_eq!(without["findings"][0]["last"], planted.no_digests[2].as_str());
    assert_eq!(without["findings"][0]["from"], "2026-11-02T01:05:00Z");
    assert_eq!(without["findings"][0]["to"], "2026-11-02T01:15:00Z");
    assert_eq!((without["logs_uncovered"].as_u64(), without["digests_checked"].as_u64()), (Some(3), Some(0)));
    // The chain's newest hour: counted, not a failure.
    let chain = report(&out, &planted.account, "us-east-1");
    assert_eq!((chain["logs_uncovered"].as_u64(), chain["logs_not_yet_covered"].as_u64()), (Some(2), Some(1)));
    assert_eq!(keys_of(&out, "notes", "not_yet_covered"), vec![planted.recent.clone()]);
    assert_eq!((total(&out, "logs_uncovered"), total(&out, "logs_valid") > 0), (5, true));

    // The text: counts per chain, the files named, the verdict.
    let out = trailhouse().args(["verify", "--public-keys"]).arg(&keys).arg("--source").arg(&logs).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = |region: &str| {
        stdout.lines().find(|l| l.starts_with(&format!("{} {region}:", planted.account))).unwrap().to_string()
    };
    assert!(line("us-east-1").ends_with(", 2 uncovered, 1 not yet covered"), "{stdout}");
    assert!(line("ca-central-1").ends_with(", 3 uncovered"), "{stdout}");
    assert!(
        stdout.contains("no digests: 3 log files covered by no digest, delivered 2026-11-02T01:05:00Z"),
        "{stdout}"
    );
    for key in &planted.after_last {
        assert!(stdout.contains(&format!("log {key}: covered by no digest (delivered after")), "{stdout}");
    }
    assert!(stdout.ends_with(": 5 log files no digest covers.\n"), "{stdout}");

    // Accepted: counted, exit 0.
    let out = verify_folder(&logs, &keys, &["--accept-uncovered-before", "2026-11-02T06:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(all_of(&out, "findings").is_empty(), "{}", text(&out));
    assert_eq!(total(&out, "logs_uncovered_accepted"), 5);
    assert_eq!(keys_of(&out, "notes", "uncovered_accepted"), planted.uncovered());
    assert_eq!(report(&out, &planted.account, "ca-central-1")["notes"][0]["problem"], "chain_without_digests");
    // Part of them: the rest still fail.
    let out = verify_folder(&logs, &keys, &["--accept-uncovered-before", "2026-11-02T05:00:00Z"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(keys_of(&out, "findings", "log_uncovered"), planted.after_last);
    assert_eq!(total(&out, "logs_uncovered_accepted"), 3);
    let both =
        ["--accept-uncovered-before", "2026-11-02T05:00:00Z", "--accept-uncovered-after", "2026-11-02T05:00:00Z"];
    let out = verify_folder(&logs, &keys, &both);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(total(&out, "logs_uncovered_accepted"), 5);
    let out = trailhouse()
        .args(["verify", "--accept-uncovered-before", "2026-11-03", "--public-keys"])
        .arg(&keys)
        .arg("--source")
        .arg(&logs)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(", 0 uncovered (+2 accepted), 1 not yet covered"), "{stdout}");
    assert!(stdout.contains("Counted, not failures: 5 log files") && stdout.ends_with("all valid.\n"), "{stdout}");
}

#[test]
fn accepting_uncovered_periods_never_excuses_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, keys) = signed_trail(dir.path(), "trail-bucket");
    let planted = Planted::new(&logs);
    plant(&logs, &planted);
    // A forgery in an hour a digest covers, and an uncovered file: tampering's finding
    // stays a failure whatever is accepted.
    let real = keys_under(&logs).into_iter().find(|k| k.contains("/CloudTrail/eu-west-1/")).unwrap();
    let forged = log_key_like(&real, "eu-west-1", "20261102T0122Z", "Forged0122xxxxxx");
    std::fs::copy(logs.join(&real), logs.join(&forged)).unwrap();
    let out = verify_folder(&logs, &keys, &["--accept-uncovered-before", "2027-01-01"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let findings = all_of(&out, "findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!((findings[0]["problem"].as_str(), findings[0]["key"].as_str()), (Some("log_unlisted"), Some(&*forged)));
    assert_eq!(total(&out, "logs_uncovered_accepted"), 5);
    // Both found, nothing accepted: the verdict names both.
    let out = trailhouse().args(["verify", "--public-keys"]).arg(&keys).arg("--source").arg(&logs).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.ends_with(": 1 problems, 5 log files no digest covers.\n"), "{stdout}");
}

#[test]
fn scoping_chooses_the_files_and_the_whole_store_judges_them() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, keys) = signed_trail(dir.path(), "trail-bucket");
    let planted = Planted::new(&logs);
    plant(&logs, &planted);
    // From 05:00 on, only the two late files are checked; the chain's digests before then,
    // outside the range, still say they come after its newest digest.
    let out = verify_folder(&logs, &keys, &["--since", "2026-11-02T05:00:00Z"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(keys_of(&out, "findings", "log_uncovered"), planted.after_last);
    assert!(all_of(&out, "findings").iter().all(|f| f["reason"] == "after_last_digest"), "{}", text(&out));
    // Until 02:00: the account/region without digests only.
    let out = verify_folder(&logs, &keys, &["--until", "2026-11-02T02:00:00Z"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let mut no_digests = planted.no_digests.clone();
    no_digests.sort();
    assert_eq!(keys_of(&out, "findings", "log_uncovered"), no_digests);
    assert_eq!(total(&out, "logs_not_yet_covered"), 0);
    // Another region, another account: clean.
    let out = verify_folder(&logs, &keys, &["--chain-region", "us-west-2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let other = reports_of(&verify_folder(&logs, &keys, &[]))
        .iter()
        .map(|r| r["account"].as_str().unwrap().to_string())
        .find(|a| *a != planted.account)
        .unwrap();
    let out = verify_folder(&logs, &keys, &["--account", &other]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(reports_of(&out).len(), 6);
    let out = verify_folder(&logs, &keys, &["--account", &planted.account, "--chain-region", "ca-central-1"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(total(&out, "logs_uncovered"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_s3_log_files_no_digest_covers_are_reported_and_accepted_alike() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("trail-{}", uuid::Uuid::new_v4().simple());
    let (logs, keys) = signed_trail(dir.path(), &bucket);
    let planted = Planted::new(&logs);
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let digests = upload_trail(&s3, &bucket, &logs).await;
    let source = format!("s3://{bucket}/AWSLogs/");
    let verify = |extra: &[&str]| {
        let mut c = trailhouse();
        c.args(["verify", "--json", "--endpoint-url", &test_support::endpoint(), "--source", &source, "--public-keys"])
            .arg(&keys)
            .args(extra);
        c.output().unwrap()
    };
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(total(&out, "digests_valid"), digests);
    assert!(all_of(&out, "findings").is_empty() && all_of(&out, "notes").is_empty(), "{}", text(&out));

    let body =
        std::fs::read(logs.join(keys_under(&logs).iter().find(|k| k.contains("/CloudTrail/")).unwrap())).unwrap();
    for key in planted.keys() {
        s3.put_object().bucket(&bucket).key(key).body(body.clone().into()).send().await.unwrap();
    }
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    // A bucket is read now: the file of 02:30 would have its digest by now (this clock is
    // past 2026-11-02T04:30), so it is uncovered too, not "not yet covered" as in a folder.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let recent_is_old = now > 1_793_593_800; // 2026-11-02T04:30:00Z
    let mut expected = planted.uncovered();
    if recent_is_old {
        expected.push(planted.recent.clone());
        expected.sort();
    }
    assert_eq!(keys_of(&out, "findings", "log_uncovered"), expected);
    assert_eq!(total(&out, "logs_not_yet_covered"), u64::from(!recent_is_old));
    let without = report(&out, &planted.account, "ca-central-1");
    assert_eq!(
        (without["findings"][0]["problem"].as_str(), without["findings"][0]["logs"].as_u64()),
        (Some("chain_without_digests"), Some(3))
    );
    assert_eq!(all_of(&out, "findings").len(), expected.len() + 1, "{}", text(&out));

    let out = verify(&["--accept-uncovered-before", "2026-11-02T06:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(total(&out, "logs_uncovered_accepted"), expected.len() as u64);
    let accepted: BTreeSet<String> = keys_of(&out, "notes", "uncovered_accepted").into_iter().collect();
    assert_eq!(accepted, expected.into_iter().collect());
}
