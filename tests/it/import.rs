//! `trailhouse import --cloudtrail-lake-export`: CloudTrail Lake's saved query results (the
//! gzip CSV files and the signed `result_sign.json` beside them) into the lake. The events
//! are the recorded invictus dataset's, written out the way Lake saves a query that selected
//! `eventJson`; the lake they make is compared with a plain ingest of the same events. A
//! changed file, a result without `eventJson` (CloudTrail Lake's own file from the AWS CLI's
//! tests), and one without a sign file are each refused with the reason, and the rest goes in.

use std::io::Write;
use std::path::Path;

use integrity::signer::Signer;
use test_support::{datasets, endpoint, run_ok, trailhouse};

const QUERY: &str = "37382170-182d-42ed-9df9-5aaf0b4b9511";
const TAMPERED: &str = "5e2676f8-9fce-46ef-8142-3e36a94e6691";
const UNSIGNED: &str = "0b3a5c1e-2d4f-4a6b-8c7d-9e0f1a2b3c4d";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A CSV cell as Lake quotes it.
fn cell(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One result file as CloudTrail Lake writes it: the query line, the header, CRLF rows (an
/// eventName column and a map in Lake's `{key=value}` text beside eventJson).
fn result_file(events: &[String]) -> Vec<u8> {
    let mut text = format!(
        "# Execution Time: 2026-12-01T10:00:00.123456Z Query Statement: SELECT eventName, requestParameters, \
         eventJson FROM {QUERY} WHERE eventTime >= '2023-07-01 00:00:00'\r\neventName,requestParameters,eventJson\r\n"
    );
    for e in events {
        let name = serde_json::from_str::<serde_json::Value>(e).unwrap()["eventName"].as_str().unwrap().to_string();
        text.push_str(&format!("{name},{},{}\r\n", cell("{bucketName=x, key=y}"), cell(e)));
    }
    gz(text.as_bytes())
}

/// `result_sign.json` over `files` (name, gzip bytes), signed by `signer`.
fn sign_file(files: &[(&str, &[u8])], signer: &Signer) -> String {
    let hashes: Vec<String> = files.iter().map(|(_, b)| integrity::sha256_hex(b)).collect();
    let listed: Vec<serde_json::Value> =
        files.iter().zip(&hashes).map(|((n, _), h)| serde_json::json!({"fileHashValue": h, "fileName": n})).collect();
    serde_json::json!({
        "version": "1.0", "region": "us-east-1", "files": listed, "hashAlgorithm": "SHA-256",
        "signatureAlgorithm": "SHA256withRSA", "queryCompleteTime": "2026-12-01T10:00:02Z",
        "hashSignature": signer.sign_hex(hashes.join(" ").as_bytes()).unwrap(),
        "publicKeyFingerprint": signer.fingerprint(),
    })
    .to_string()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The invictus events (as eventJson cells), and an export folder in Lake's S3 layout
/// holding them in two signed result files, plus a tampered, a foreign and an unsigned
/// query folder; the public keys file that verifies the signed ones.
struct Export {
    events: Vec<String>,
    root: tempfile::TempDir,
    keys: std::path::PathBuf,
}

fn export() -> Export {
    let mut events: Vec<String> = test_support::source_events(&datasets().join("invictus-aws-stratus"))
        .into_values()
        .flatten()
        .map(|e| serde_json::to_string(&e).unwrap())
        .collect();
    events.sort();
    let root = tempfile::tempdir().unwrap();
    let day = root.path().join("AWSLogs/111122223333/CloudTrail-Lake/Query/2026/12/01");
    let signer = Signer::generate().unwrap();

    let half = events.len() / 2;
    let (one, two) = (result_file(&events[..half]), result_file(&events[half..]));
    write(&day.join(QUERY).join("result_1.csv.gz"), &one);
    write(&day.join(QUERY).join("result_2.csv.gz"), &two);
    let sign = sign_file(&[("result_1.csv.gz", &one), ("result_2.csv.gz", &two)], &signer);
    write(&day.join(QUERY).join("result_sign.json"), sign.as_bytes());

    // Signed, then one event added: the hash no longer matches.
    let honest = result_file(&events[..3]);
    write(&day.join(TAMPERED).join("result_sign.json"), sign_file(&[("result_1.csv.gz", &honest)], &signer).as_bytes());
    write(&day.join(TAMPERED).join("result_1.csv.gz"), &result_file(&events[..4]));

    // CloudTrail Lake's own signed result (AWS CLI tests, Apache-2.0): valid, but no eventJson.
    let real = datasets().parent().unwrap().join("cloudtrail-lake-result");
    for f in ["result_1.csv.gz", "result_sign.json"] {
        write(&day.join("2f1e9a3b-real-0000-0000-000000000000").join(f), &std::fs::read(real.join(f)).unwrap());
    }
    write(&day.join(UNSIGNED).join("result_1.csv.gz"), &result_file(&events[..5]));

    let real_key = std::fs::read_to_string(real.join("public_key_67b9fa73676d86966b449dd677850753.b64")).unwrap();
    let mut list =
        serde_json::to_value(signer.public_key_list("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")).unwrap();
    list["PublicKeyList"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"Value": real_key.trim(), "Fingerprint": "67b9fa73676d86966b449dd677850753"}));
    let keys = root.path().join("keys.json");
    std::fs::write(&keys, list.to_string()).unwrap();
    Export { events, root, keys }
}

fn import(args: &[&str]) -> (i32, String, String) {
    let out = trailhouse().arg("import").args(args).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Every event in the lake, without the column naming where it was read from, sorted.
fn rows(lake: &Path) -> Vec<String> {
    let sql = "SELECT * EXCLUDE (source_object) FROM cloudtrail ORDER BY eventid, eventtime";
    let out = run_ok(trailhouse().args(["sql", "--format", "ndjson", "--lake"]).arg(lake).arg(sql));
    out.lines().map(str::to_string).collect()
}

#[test]
fn lake_results_import_as_the_same_rows_as_their_events_and_refuse_what_fails_its_checks() {
    let x = export();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let src = x.root.path().to_str().unwrap();
    let (lake_s, keys) = (lake.to_str().unwrap(), x.keys.to_str().unwrap());
    let (code, out, err) =
        import(&["--cloudtrail-lake-export", src, "--lake", lake_s, "--public-keys", keys, "--json"]);
    assert_eq!(code, 4, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["files"], 2, "{summary}");
    assert_eq!(summary["events"], x.events.len() as u64, "{summary}");
    let refused: Vec<(String, String)> = summary["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["source"].as_str().unwrap().to_string(), q["error"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    let why = |id: &str| refused.iter().find(|(s, _)| s.contains(id)).map(|(_, e)| e.as_str()).unwrap_or("");
    assert!(why(TAMPERED).contains("not the") && why(TAMPERED).contains("result_sign.json lists"), "{refused:?}");
    assert!(why("2f1e9a3b-real").contains("has no eventJson column (its columns: eventVersion"), "{refused:?}");
    assert!(why(UNSIGNED).contains("--allow-unsigned"), "{refused:?}");
    assert!(err.contains("3 result file(s) refused"), "{err}");

    // The same events as a plain ingest of them in one log file.
    let trail = dir.path().join("trail/AWSLogs/111122223333/CloudTrail/us-east-1/2023/07/10");
    let doc = format!("{{\"Records\":[{}]}}", x.events.join(","));
    write(&trail.join("111122223333_CloudTrail_us-east-1_20230710T0000Z_all.json.gz"), &gz(doc.as_bytes()));
    let plain = dir.path().join("plain");
    run_ok(
        trailhouse()
            .args(["ingest", "--no-integrity", "--lake"])
            .arg(&plain)
            .arg("--source")
            .arg(dir.path().join("trail")),
    );
    let imported = rows(&lake);
    assert_eq!(imported.len(), x.events.len());
    assert!(imported == rows(&plain), "the imported rows differ from the ingested ones");

    // Again: the imported files are skipped, the unsigned one is refused again (its refusal
    // was this run's checks, not its bytes) and, allowed, goes in.
    let (_, out, _) = import(&["--cloudtrail-lake-export", src, "--lake", lake_s, "--public-keys", keys, "--json"]);
    let again: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((again["files"].as_u64(), again["files_already_ingested"].as_u64()), (Some(0), Some(4)), "{again}");
    assert_eq!(again["files_quarantined"], 1, "{again}");
    let (code, out, err) = import(&[
        "--cloudtrail-lake-export",
        src,
        "--lake",
        lake_s,
        "--public-keys",
        keys,
        "--allow-unsigned",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let allowed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((allowed["files"].as_u64(), allowed["events"].as_u64()), (Some(1), Some(5)), "{allowed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lake_results_in_s3_import_over_the_wire_and_once_with_a_local_copy() {
    let x = export();
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    let bucket = crate::local_aws::new_bucket(&s3, "lake-results").await;
    for key in test_support::keys_under(x.root.path()).into_iter().filter(|k| k.contains(QUERY)) {
        let body = std::fs::read(x.root.path().join(&key)).unwrap();
        s3.put_object().bucket(&bucket).key(format!("export/{key}")).body(body.into()).send().await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let from_s3 = format!("s3://{bucket}/export/");
    let (lake_s, keys, ep) = (lake.to_str().unwrap(), x.keys.to_str().unwrap(), endpoint());
    let base = ["--lake", lake_s, "--public-keys", keys, "--endpoint-url", ep.as_str(), "--json"];
    let (code, out, err) = import(&[&["--cloudtrail-lake-export", from_s3.as_str()][..], &base[..]].concat());
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((summary["files"].as_u64(), summary["events"].as_u64()), (Some(2), Some(x.events.len() as u64)));

    // The same results copied to a folder of their own are the same files to the ledger.
    let local = dir.path().join(QUERY);
    for f in ["result_1.csv.gz", "result_2.csv.gz", "result_sign.json"] {
        let day = x.root.path().join("AWSLogs/111122223333/CloudTrail-Lake/Query/2026/12/01");
        write(&local.join(f), &std::fs::read(day.join(QUERY).join(f)).unwrap());
    }
    let (code, out, err) = import(&[&["--cloudtrail-lake-export", local.to_str().unwrap()][..], &base[..]].concat());
    assert_eq!(code, 0, "{err}");
    let again: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((again["files"].as_u64(), again["files_already_ingested"].as_u64()), (Some(0), Some(2)), "{again}");
}
