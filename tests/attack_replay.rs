//! An attack sequence written for the tests (tests/scenarios/attack-sequence: credential
//! theft, then persistence, then defense evasion) replayed end to end: gzipped under
//! CloudTrail's key layout, ingested, and run through `trailhouse detect` with the built-in
//! pack. The alerts must name each step, in the order the attacker took them, and nothing
//! else.
// A test fails by panicking: unwrap() here is the assertion.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

mod common;

use common::trailhouse;

const LOG: &str = "111122223333_CloudTrail_us-east-1_20261120T1015Z_attack.json";

/// The recorded log file, gzipped where CloudTrail would have written it.
fn write_logs(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/attack-sequence").join(LOG);
    let json = std::fs::read(&source).unwrap_or_else(|e| panic!("cannot read {}: {e}", source.display()));
    let day = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20");
    std::fs::create_dir_all(&day).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(day.join(format!("{LOG}.gz"))).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&json).unwrap();
    gz.finish().unwrap();
}

#[test]
fn a_replayed_intrusion_raises_each_step_in_the_order_it_happened() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    write_logs(&logs);
    let out = trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "ingest failed:\n{}", String::from_utf8_lossy(&out.stderr));

    let out = trailhouse().args(["detect", "--format", "ndjson", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "new alerts exit 3:\n{}", String::from_utf8_lossy(&out.stderr));
    let alerts: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let fired: Vec<(&str, &str)> =
        alerts.iter().map(|a| (a["first_seen"].as_str().unwrap(), a["rule_id"].as_str().unwrap())).collect();

    // Each step, in the attacker's order (other rules may fire on the same events).
    let steps = [
        "offensive-tool-user-agent",               // credential theft: a secret scanner tries the key
        "iam-account-authorization-details",       // discovery with it
        "iam-user-created",                        // persistence: a user of its own
        "access-key-created-for-another-user",     // ... with a key
        "iam-role-trust-policy-foreign-principal", // ... and a role trusting the attacker's account
        "cloudtrail-tampering",                    // evasion: the trail stopped
        "guardduty-disabled",                      // ... and GuardDuty's detector deleted
    ];
    let mut at = 0;
    for step in steps {
        let Some(i) = fired[at..].iter().position(|(_, id)| *id == step) else {
            panic!("{step} did not fire after the previous step; alerts in order: {fired:?}");
        };
        at += i + 1;
    }
    let times: Vec<&str> = fired.iter().map(|(t, _)| *t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "alerts not in event order: {fired:?}");
    // The owner's everyday calls raise nothing: every alert is the leaked key's.
    for a in &alerts {
        assert_eq!(a["principal"], "ci-deployer", "an alert not about the intruder: {a}");
    }
    // The steps are one incident about the key's user, its tactics in kill-chain order, and
    // their progression raises one attack-sequence alert.
    let sequences: Vec<&serde_json::Value> =
        alerts.iter().filter(|a| a["rule_id"] == "incident-attack-sequence").collect();
    assert_eq!(sequences.len(), 1, "{fired:?}");
    assert_eq!(sequences[0]["severity"], "critical", "four rising stages: {}", sequences[0]);
    let incidents = || -> Vec<serde_json::Value> {
        let out = trailhouse()
            .args(["sql", "--format", "ndjson", "--lake"])
            .arg(&lake)
            .arg("SELECT incident_id, identity, tactics, alerts, progression, steps FROM incidents")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let first = incidents();
    assert_eq!(first.len(), 1, "{first:?}");
    let incident = &first[0];
    assert_eq!(incident["identity"], "arn:aws:iam::111122223333:user/ci-deployer");
    assert_eq!(
        incident["tactics"],
        serde_json::json!(["credential_access", "discovery", "privilege_escalation", "persistence", "defense_evasion"])
    );
    assert_eq!(incident["alerts"], alerts.len() as i64 - 1, "every step but the sequence alert itself");
    assert_eq!(sequences[0]["details"]["incident_id"], incident["incident_id"]);
    let steps: Vec<serde_json::Value> = serde_json::from_str(incident["steps"].as_str().unwrap()).unwrap();
    let step_rules: Vec<&str> = steps.iter().map(|s| s["rule_id"].as_str().unwrap()).collect();
    assert_eq!(step_rules.first(), Some(&"offensive-tool-user-agent"), "{step_rules:?}");
    assert_eq!(step_rules.last(), Some(&"guardduty-disabled"), "{step_rules:?}");

    // The same lake again: nothing new.
    let again = trailhouse().args(["detect", "--format", "ndjson", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(again.stdout.is_empty(), "{}", String::from_utf8_lossy(&again.stdout));
    // ... and the incident is the same one, not a second.
    assert_eq!(incidents(), first);

    // Everything again from the start (`--all`): the same alerts, already known, add no
    // incident and change none.
    let all = trailhouse().args(["detect", "--all", "--format", "ndjson", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(all.status.code(), Some(0), "{}", String::from_utf8_lossy(&all.stderr));
    let after = incidents();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["incident_id"], first[0]["incident_id"]);
}
