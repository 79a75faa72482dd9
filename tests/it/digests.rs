//! Digest chains (`trailhouse verify`) over a signed generated trail, in a folder and in S3:
//! each tampering reported with its key, signatures from S3 metadata, keys from
//! ListPublicKeys, and agreement with the AWS CLI's own validator both ways.

use std::path::Path;
use std::process::Command;

use test_support::{keys_under, run_ok, trailhouse, upload_trail};

/// Two hours of an organization trail's generated logs, two accounts in six regions, under
/// `dir/bucket`, with signed digests naming `bucket` (`generate --digests`): (the folder,
/// its public-keys file).
fn signed_trail(dir: &Path, events: &str, seed: &str, bucket: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let logs = dir.join("bucket");
    run_ok(
        trailhouse()
            .args(["generate", "--digests", "--bucket", bucket, "--events", events, "--accounts", "2", "--seed", seed])
            .args(["--minutes", "115", "--out"])
            .arg(&logs),
    );
    let keys = logs.join("public-keys.json");
    (logs, keys)
}

/// The findings of `verify --json` output, all chains together.
fn findings_of(stdout: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(stdout)
        .unwrap()
        .lines()
        .flat_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["findings"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn verify_passes_an_untouched_trail_and_reports_each_tampering_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, keys) = signed_trail(dir.path(), "400", "5", "trail-bucket");
    let verify = || {
        let mut c = trailhouse();
        c.args(["verify", "--json", "--public-keys"]).arg(&keys).arg("--source").arg(&logs);
        c
    };
    let out = verify().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let reports: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 12, "one chain per account and region");
    assert!(reports.iter().all(|r| r["findings"].as_array().unwrap().is_empty() && r["digests_valid"] == 2));

    // Tamper: edit one log file, delete another, forge a third.
    let log_keys: Vec<String> =
        keys_under(&logs).into_iter().filter(|k| k.contains("/CloudTrail/us-east-1/")).collect();
    let (edited, deleted) = (&log_keys[0], &log_keys[1]);
    let edited_raw = integrity::gunzip(&std::fs::read(logs.join(edited)).unwrap()).unwrap();
    let edited_raw = String::from_utf8(edited_raw).unwrap().replacen("\"eventName\":\"", "\"eventName\":\"X", 1);
    std::fs::write(logs.join(edited), integrity::signer::gzip(edited_raw.as_bytes())).unwrap();
    std::fs::remove_file(logs.join(deleted)).unwrap();
    let forged = edited.replace(".json.gz", "-forged.json.gz");
    std::fs::write(logs.join(&forged), integrity::signer::gzip(b"{\"Records\":[]}")).unwrap();

    let out = verify().output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let findings = findings_of(out.stdout);
    let of = |problem: &str| -> Vec<String> {
        findings.iter().filter(|f| f["problem"] == problem).map(|f| f["key"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(of("log_altered"), vec![edited.clone()]);
    assert_eq!(of("log_missing"), vec![deleted.clone()]);
    assert_eq!(of("log_unlisted"), vec![forged]);
    assert_eq!(findings.len(), 3, "{findings:?}");

    // Text output names the problem and the file.
    let mut text = trailhouse();
    text.args(["verify", "--public-keys"]).arg(&keys).arg("--source").arg(&logs);
    let out = text.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&format!("log {edited}: ALTERED")) && stdout.contains("3 problems."), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reads_signatures_from_s3_metadata_and_saves_them_for_an_offline_copy() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("trail-{}", uuid::Uuid::new_v4().simple());
    let (logs, keys) = signed_trail(dir.path(), "200", "6", &bucket);

    // The bucket as CloudTrail leaves it: digests carry their signature as object metadata.
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let digests = upload_trail(&s3, &bucket, &logs).await;
    let saved = dir.path().join("saved");
    let source = format!("s3://{bucket}/AWSLogs/");
    let verify = |extra: &[&str]| {
        let mut c = trailhouse();
        c.args(["verify", "--json", "--endpoint-url", &test_support::endpoint(), "--source", &source, "--public-keys"])
            .arg(&keys)
            .args(extra);
        c.output().unwrap()
    };
    let out = verify(&["--save-signatures", saved.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let checked: u64 = reports.iter().map(|r| r["digests_valid"].as_u64().unwrap()).sum();
    assert_eq!(checked, digests);
    assert!(reports.iter().all(|r| r["signatures_unchecked"] == 0));
    let sidecars = keys_under(&saved);
    assert_eq!(sidecars.len() as u64, digests);
    assert!(sidecars.iter().all(|k| k.ends_with(".json.gz.signature")));

    // A log file replaced in the bucket and a digest's signature metadata forged.
    let log = keys_under(&logs).into_iter().find(|k| k.contains("/CloudTrail/eu-west-1/")).unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(&log)
        .body(integrity::signer::gzip(b"{\"Records\":[]}").into())
        .send()
        .await
        .unwrap();
    let digest = keys_under(&logs)
        .into_iter()
        .find(|k| k.contains("/CloudTrail-Digest/us-west-2/") && k.ends_with(".json.gz"))
        .unwrap();
    let forged = integrity::signer::Signer::generate().unwrap().sign_hex(b"something else").unwrap();
    let body = std::fs::read(logs.join(&digest)).unwrap();
    s3.put_object().bucket(&bucket).key(&digest).body(body.into()).metadata("signature", forged).send().await.unwrap();
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(4));
    let findings = findings_of(out.stdout);
    assert!(findings.iter().any(|f| f["problem"] == "log_altered" && f["key"] == log.as_str()), "{findings:?}");
    assert!(
        findings.iter().any(|f| f["problem"] == "invalid_signature" && f["key"] == digest.as_str()),
        "{findings:?}"
    );
}

/// Gives the local server's CloudTrail `region` these public keys (`list-public-keys`
/// output): no AWS API creates them, so scripts/moto_server.py takes them like moto's own
/// `/moto-api/static/` results.
fn seed_public_keys(region: &str, keys: &Path) {
    use std::io::{Read, Write};
    let mut body: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(keys).unwrap()).unwrap();
    body["region"] = region.into();
    let body = body.to_string();
    let endpoint = test_support::endpoint();
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /moto-api/static/cloudtrail/public-keys HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_over_s3_with_keys_from_list_public_keys_reports_each_tampering_once_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("trail-{}", uuid::Uuid::new_v4().simple());
    let logs = dir.path().join("bucket");
    // An organization trail of two accounts in every generated region, tampered with.
    run_ok(
        trailhouse()
            .args(["generate", "--tamper", "--bucket", &bucket, "--events", "3000", "--accounts", "2"])
            .args(["--minutes", "240", "--out"])
            .arg(&logs),
    );
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let digests = upload_trail(&s3, &bucket, &logs).await;
    let regions: std::collections::BTreeSet<String> = keys_under(&logs)
        .iter()
        .filter_map(|k| integrity::folder::classify(k).map(|(_, region, _)| region.to_string()))
        .collect();
    assert!(regions.len() >= 4, "{regions:?}");
    for region in &regions {
        seed_public_keys(region, &logs.join("public-keys.json"));
    }
    let planted: Vec<(String, String)> = std::fs::read_to_string(logs.join("planted.tsv"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f[3].starts_with("tamper-").then(|| (f[3].to_string(), f[4].to_string()))
        })
        .collect();
    assert_eq!(planted.len(), 4);
    // No --public-keys: each region's keys come from ListPublicKeys in that region.
    let verify = |extra: &[&str]| {
        let mut c = trailhouse();
        c.args([
            "verify",
            "--json",
            "--endpoint-url",
            &test_support::endpoint(),
            "--source",
            &format!("s3://{bucket}"),
        ])
        .args(extra);
        c.output().unwrap()
    };
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = out.stdout.clone();
    let reports: Vec<serde_json::Value> =
        String::from_utf8(stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let valid: u64 = reports.iter().map(|r| r["digests_valid"].as_u64().unwrap()).sum();
    assert_eq!(valid, digests, "each digest in the bucket is signed by a key ListPublicKeys gives");
    let findings = findings_of(out.stdout);
    for (what, key) in &planted {
        let problem = match what.as_str() {
            "tamper-log-altered" => "log_altered",
            "tamper-log-deleted" => "log_missing",
            "tamper-log-added" => "log_unlisted",
            "tamper-digest-deleted" => "digest_missing",
            other => panic!("{other}"),
        };
        let about: Vec<_> = findings.iter().filter(|f| f["key"] == key.as_str()).collect();
        assert_eq!(about.len(), 1, "{what} {key}: {findings:#?}");
        assert_eq!(about[0]["problem"], problem, "{about:?}");
    }
    // Besides those: the deleted digest's hour is a gap and its log files are in no digest.
    assert!(findings.iter().all(|f| planted.iter().any(|(_, k)| f["key"] == k.as_str())
        || f["problem"] == "chain_gap"
        || f["problem"] == "log_unlisted"));
    // The hours after the tampering verify clean.
    let out = verify(&["--since", "2026-11-02T03:00:00Z", "--until", "2026-11-02T04:00:00Z"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(findings_of(out.stdout).is_empty());
}

/// `scripts/awscli_digests.py` with the test venv's Python (awscli's validator).
fn awscli_digests(args: &[&std::ffi::OsStr]) -> String {
    let python = test_support::python();
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/awscli_digests.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The digests awscli's validator rejects, by key.
fn awscli_rejects(root: &Path, keys: &Path) -> Vec<String> {
    let out = awscli_digests(&["check".as_ref(), root.as_os_str(), keys.as_os_str()]);
    let mut bad: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["valid"] == false)
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    bad.sort();
    bad
}

/// The digests `trailhouse verify` finds a bad signature on, by key.
fn trailhouse_rejects(root: &Path, keys: &Path) -> Vec<String> {
    let out =
        trailhouse().args(["verify", "--json", "--public-keys"]).arg(keys).arg("--source").arg(root).output().unwrap();
    let mut bad: Vec<String> = findings_of(out.stdout)
        .iter()
        .filter(|f| f["problem"] == "invalid_signature")
        .map(|f| f["key"].as_str().unwrap().to_string())
        .collect();
    bad.sort();
    bad
}

/// Edits a digest's content (drops its last log file) and keeps its old signature.
fn edit_digest(root: &Path, key: &str) {
    let raw = integrity::gunzip(&std::fs::read(root.join(key)).unwrap()).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["logFiles"].as_array_mut().unwrap().pop();
    std::fs::write(root.join(key), integrity::signer::gzip(v.to_string().as_bytes())).unwrap();
}

#[test]
fn our_digests_pass_the_aws_clis_validator_and_its_signatures_pass_ours() {
    let dir = tempfile::tempdir().unwrap();
    // Ours, checked by awscli: all valid; then an edited digest and a forged signature,
    // rejected by both, and nothing else.
    let (logs, keys) = signed_trail(dir.path(), "200", "7", "trail-bucket");
    assert_eq!(awscli_rejects(&logs, &keys), Vec::<String>::new());
    let digests: Vec<String> = keys_under(&logs)
        .into_iter()
        .filter(|k| k.contains("/CloudTrail-Digest/") && k.ends_with(".json.gz"))
        .collect();
    edit_digest(&logs, &digests[0]);
    let forger = integrity::signer::Signer::generate().unwrap();
    std::fs::write(logs.join(format!("{}.signature", digests[3])), forger.sign_hex(b"forged").unwrap()).unwrap();
    let expected = vec![digests[0].clone(), digests[3].clone()];
    assert_eq!(awscli_rejects(&logs, &keys), expected);
    assert_eq!(trailhouse_rejects(&logs, &keys), expected);

    // Signed the CLI's way (its string-to-sign, python-rsa), checked by us: valid; an edit
    // is rejected by both.
    let theirs = dir.path().join("theirs");
    run_ok(
        trailhouse()
            .args(["generate", "--events", "200", "--accounts", "1", "--seed", "8", "--minutes", "115", "--out"])
            .arg(&theirs),
    );
    awscli_digests(&["sign".as_ref(), theirs.as_os_str()]);
    let their_keys = theirs.join("public-keys.json");
    let out =
        trailhouse().args(["verify", "--public-keys"]).arg(&their_keys).arg("--source").arg(&theirs).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let their_digests: Vec<String> = keys_under(&theirs)
        .into_iter()
        .filter(|k| k.contains("/CloudTrail-Digest/") && k.ends_with(".json.gz"))
        .collect();
    edit_digest(&theirs, &their_digests[1]);
    assert_eq!(awscli_rejects(&theirs, &their_keys), vec![their_digests[1].clone()]);
    assert_eq!(trailhouse_rejects(&theirs, &their_keys), vec![their_digests[1].clone()]);
}
