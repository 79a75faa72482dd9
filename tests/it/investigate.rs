//! `trailhouse investigate`: a three-hop credential chain across two accounts
//! (tests/scenarios/credential-chain: an IAM user's key -> AssumeRole -> a role in another
//! account -> role chaining there), ingested from its two accounts' log files, followed up
//! from the last key, down from the first, and from a session and a role.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use test_support::{run_ok, trailhouse};

fn chain_lake(dir: &Path) -> PathBuf {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/credential-chain");
    let logs = dir.join("logs");
    for account in ["111111111111", "222222222222"] {
        let name = format!("{account}_CloudTrail_us-east-1_20261120T1010Z_chain.json");
        let day = logs.join(format!("AWSLogs/{account}/CloudTrail/us-east-1/2026/11/20"));
        std::fs::create_dir_all(&day).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(day.join(format!("{name}.gz"))).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(&std::fs::read(scenario.join(&name)).unwrap()).unwrap();
        gz.finish().unwrap();
    }
    let lake = dir.join("lake");
    run_ok(trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake));
    lake
}

fn chains(lake: &Path, kind: &str, value: &str) -> Vec<Value> {
    let out = run_ok(trailhouse().args(["investigate", kind, value, "--json", "--lake"]).arg(lake));
    serde_json::from_str(&out).unwrap()
}

/// The keys of a tree, depth first, with their depth.
fn keys(node: &Value, depth: usize, out: &mut Vec<(usize, String)>) {
    out.push((depth, node["key"].as_str().unwrap().to_string()));
    for c in node["children"].as_array().unwrap() {
        keys(c, depth + 1, out);
    }
}

fn find<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    if node["key"] == key {
        return Some(node);
    }
    node["children"].as_array().unwrap().iter().find_map(|c| find(c, key))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_hop_chain_across_two_accounts_is_followed_up_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let lake = chain_lake(dir.path());
    let (alice, dev, prod, deploy) =
        ("AKIAEXAMPLEALICE0001", "ASIAEXAMPLEDEV000001", "ASIAEXAMPLEPROD00001", "ASIAEXAMPLEDEPLOY001");

    // From the last key up: the chain that led to it, nothing beside it.
    let up = chains(&lake, "accesskey", deploy);
    assert_eq!(up.len(), 1, "{up:?}");
    let mut got = vec![];
    keys(&up[0], 0, &mut got);
    let want: Vec<(usize, String)> =
        [alice, dev, prod, deploy].iter().enumerate().map(|(d, k)| (d, k.to_string())).collect();
    assert_eq!(got, want);
    let root = &up[0];
    assert_eq!(root["identity"], "arn:aws:iam::111111111111:user/alice");
    assert!(root["made"].is_null(), "a user's long-term key is made by no call here");
    let hop2 = find(root, prod).unwrap();
    assert_eq!(hop2["made"]["call"], "AssumeRole");
    assert_eq!(hop2["made"]["role"], "arn:aws:iam::222222222222:role/prod-admin");
    assert_eq!(hop2["made"]["by_key"], dev);
    assert_eq!(hop2["identity"], "arn:aws:sts::222222222222:assumed-role/prod-admin/alice-prod");
    assert_eq!(hop2["account"], "222222222222", "the session is in the other account");
    // What each did: its window, calls, errors, services and resources.
    assert_eq!((hop2["calls"].as_i64(), hop2["errors"].as_i64()), (Some(3), Some(1)), "{hop2}");
    assert_eq!(hop2["first_use"], "2026-11-20T10:03:00Z");
    let last = find(root, deploy).unwrap();
    assert_eq!(last["subject"], true);
    assert_eq!(last["made"]["role"], "arn:aws:iam::222222222222:role/prod-deploy");
    assert_eq!(last["calls"], 2);
    let resources: Vec<&str> = last["resources"].as_array().unwrap().iter().map(|r| r[0].as_str().unwrap()).collect();
    assert!(resources.contains(&"arn:aws:s3:::prod-secrets/db.env"), "{resources:?}");
    assert!(find(root, "ASIAEXAMPLEBOBDEV001").is_none(), "bob's session is not in alice's chain");

    // From the user's key down: everything it led to, the same three hops.
    let down = chains(&lake, "accesskey", alice);
    let mut got = vec![];
    keys(&down[0], 0, &mut got);
    assert_eq!(got, want);
    assert_eq!(down[0]["subject"], true);

    // From a session's ARN, and from a role: every session of it, each under its own user.
    let session = chains(&lake, "session", "arn:aws:sts::222222222222:assumed-role/prod-admin/alice-prod");
    assert!(find(&session[0], prod).is_some_and(|n| n["subject"] == true), "{session:?}");
    let role = chains(&lake, "role", "arn:aws:iam::111111111111:role/dev");
    let tops: Vec<&str> = role.iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(tops, ["AKIAEXAMPLEALICE0001", "AKIAEXAMPLEBOB000001"]);

    // The text form: one credential per paragraph, indented under the one that made it.
    let text = run_ok(trailhouse().args(["investigate", "accesskey", deploy, "--lake"]).arg(&lake));
    let line = |key: &str| text.lines().find(|l| l.contains(key)).unwrap_or_else(|| panic!("{key} in:\n{text}"));
    let indent = |l: &str| l.len() - l.trim_start().len();
    assert!(indent(line(alice)) < indent(line(dev)) && indent(line(dev)) < indent(line(prod)), "{text}");
    assert!(line(deploy).contains("<== asked about"), "{text}");
    assert!(text.contains("AssumeRole arn:aws:iam::222222222222:role/prod-admin as alice-prod"), "{text}");

    // The console draws it on the key's investigation page, each credential a link.
    let server = crate::console::Server::start(&lake, &[], None);
    let (status, api) = crate::console::get(&format!("{}/api/chain?kind=accesskey&value={deploy}", server.url)).await;
    assert_eq!(status, 200, "{api}");
    assert_eq!(api["chains"][0]["key"], alice);
    let browser = crate::console::Browser::start().await;
    browser.open(&format!("{}/investigate?kind=accesskey&value={deploy}", server.url)).await;
    browser.ready("investigate").await;
    let drawn = browser
        .eval("return [...document.querySelectorAll('#investigate-chain li[data-key]')].map((l) => l.dataset.key)")
        .await;
    assert_eq!(drawn, serde_json::json!([alice, dev, prod, deploy]));
    let subject = browser.eval("return document.querySelector('#investigate-chain li.subject').dataset.key").await;
    assert_eq!(subject, deploy);
    let links = browser
        .eval("return [...document.querySelectorAll('#investigate-chain li[data-key] > .cred a.inv')].map((a) => a.getAttribute('href'))")
        .await;
    let links: Vec<String> = serde_json::from_value(links).unwrap();
    assert!(links.iter().any(|h| h.contains(&format!("kind=accesskey&value={prod}"))), "{links:?}");
    assert!(links.iter().any(|h| h.contains("assumed-role%2Fprod-admin%2Falice-prod")), "{links:?}");
    browser.command("DELETE", "", serde_json::json!({})).await;

    // Nothing known: exit 1 with a line saying so; a wrong kind of value is named.
    let out =
        trailhouse().args(["investigate", "accesskey", "AKIANOSUCHKEY0000000", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No calls with accesskey AKIANOSUCHKEY0000000"));
    let out = trailhouse().args(["investigate", "role", "alice", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a role's ARN"));
}
