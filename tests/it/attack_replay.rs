//! An attack sequence written for the tests (tests/scenarios/attack-sequence: credential
//! theft, then persistence, then defense evasion) replayed end to end: gzipped under
//! CloudTrail's key layout, ingested, and run through `trailhouse detect` with the built-in
//! pack. The alerts must name each step, in the order the attacker took them, and nothing
//! else.

use std::io::Write;
use std::path::Path;

use test_support::trailhouse;

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

/// The replayed intrusion's lake after `detect`, in `dir`.
fn detected_lake(dir: &Path) -> std::path::PathBuf {
    let (logs, lake) = (dir.join("logs"), dir.join("lake"));
    write_logs(&logs);
    let out = trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "ingest failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = trailhouse().args(["detect", "--format", "ndjson", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    lake
}

/// Runs `trailhouse ARGS --lake LAKE`; (exit code, stdout, stderr).
fn cli(lake: &Path, args: &[&str]) -> (i32, String, String) {
    let out = trailhouse().args(args).arg("--lake").arg(lake).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn rows(ndjson: &str) -> Vec<serde_json::Value> {
    ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn alerts_and_incidents_are_listed_shown_and_triaged_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = detected_lake(dir.path());

    // Newest first; --severity is that severity and above.
    let (code, out, err) = cli(&lake, &["alerts", "list", "--format", "ndjson"]);
    assert_eq!(code, 0, "{err}");
    let all = rows(&out);
    assert!(all.len() >= 8, "{out}");
    let last_seen: Vec<&str> = all.iter().map(|a| a["last_seen"].as_str().unwrap()).collect();
    assert!(last_seen.windows(2).all(|w| w[0] >= w[1]), "not newest first: {last_seen:?}");
    let (_, out, _) = cli(&lake, &["alerts", "list", "--severity", "critical", "--format", "ndjson"]);
    let critical = rows(&out);
    assert!(!critical.is_empty() && critical.iter().all(|a| a["severity"] == "critical"), "{out}");
    assert!(critical.len() < all.len());

    // Close two alerts by prefix with one note; a close without a note, or with an unknown
    // id among good ones, writes nothing.
    let ids: Vec<String> = all.iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    let (p0, p1) = (&ids[1][..8], &ids[2][..8]);
    let (code, _, err) = cli(&lake, &["alerts", "close", p0, p1]);
    assert_ne!(code, 0);
    assert!(err.contains("needs a note"), "{err}");
    let (code, _, err) = cli(&lake, &["alerts", "close", p0, "ffffffffffff", "--note", "x"]);
    assert_ne!(code, 0);
    assert!(err.contains("no alert ffffffffffff"), "{err}");
    let (_, out, _) = cli(&lake, &["alerts", "list", "--state", "closed", "--format", "ndjson"]);
    assert!(out.is_empty(), "nothing may be closed yet: {out}");
    let (code, out, err) = cli(&lake, &["alerts", "close", p0, p1, "--note", "red-team exercise RT-12"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Closed 2 alerts"), "{out}");
    let (_, out, _) = cli(&lake, &["alerts", "list", "--state", "closed", "--format", "ndjson"]);
    let closed: Vec<String> = rows(&out).iter().map(|a| a["alert_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(closed.len(), 2, "{out}");
    assert!(closed.contains(&ids[1]) && closed.contains(&ids[2]));
    let (_, out, _) = cli(&lake, &["alerts", "list", "--state", "open", "--format", "ndjson"]);
    assert_eq!(rows(&out).len(), all.len() - 2);

    // One alert: its fields, the note, its events from the lake.
    let (code, out, err) = cli(&lake, &["alerts", "show", &ids[1], "--json"]);
    assert_eq!(code, 0, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["alert"]["state"], "closed");
    assert_eq!(shown["triage"][0]["note"], "red-team exercise RT-12");
    let events = shown["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{out}");
    assert!(events.iter().all(|e| e["principal"] == "ci-deployer"), "{out}");

    // The incident: listed, and shown with its steps in time order and their states.
    let (code, out, err) = cli(&lake, &["incidents", "list", "--format", "ndjson"]);
    assert_eq!(code, 0, "{err}");
    let incidents = rows(&out);
    assert_eq!(incidents.len(), 1, "{out}");
    let id = incidents[0]["incident_id"].as_str().unwrap();
    let (code, out, err) = cli(&lake, &["incidents", "show", &id[..10], "--json"]);
    assert_eq!(code, 0, "{err}");
    let incident: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps = incident["steps"].as_array().unwrap();
    assert_eq!(steps.len() as i64, incident["alerts"].as_i64().unwrap());
    let times: Vec<&str> = steps.iter().map(|s| s["first_seen"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let closed_steps = steps.iter().filter(|s| s["state"] == "closed").count();
    let closed_in_incident = closed.iter().filter(|c| steps.iter().any(|s| s["alert_id"] == c.as_str())).count();
    assert_eq!(closed_steps, closed_in_incident, "{out}");
    let (code, out, _) = cli(&lake, &["incidents", "show", &id[..10]]);
    assert_eq!(code, 0);
    assert!(out.contains("credential access > discovery"), "{out}");
    // ... and as an OCSF Detection Finding.
    let (code, out, err) = cli(&lake, &["incidents", "show", id, "--ocsf"]);
    assert_eq!(code, 0, "{err}");
    let finding: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((finding["class_uid"].as_i64(), finding["finding_info"]["uid"].as_str()), (Some(2004), Some(id)));
    assert_eq!(finding["finding_info"]["attacks"][0]["tactic"]["uid"], "TA0006", "{finding}");
}

#[test]
fn an_exception_records_its_alerts_as_suppressed_and_delivers_none_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    write_logs(&logs);
    let out = trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let add = |extra: &[&str]| {
        let mut args = vec!["exceptions", "add"];
        args.extend_from_slice(extra);
        cli(&lake, &args)
    };
    // Refused, each with its reason: an unknown rule, an unknown field, no expiry within a
    // year, no reason.
    let base = ["--reason", "our secret scanner", "--owner", "secops", "--expires", "30d"];
    let (code, _, err) = add(&[&["--rule", "offensive-tool-user-agnt", "--when", "true"][..], &base].concat());
    assert!(code != 0 && err.contains("did you mean offensive-tool-user-agent"), "{err}");
    let (code, _, err) =
        add(&[&["--rule", "offensive-tool-user-agent", "--when", "useragent = 'x'"][..], &base].concat());
    assert!(code != 0 && err.contains("user_agent"), "{err}");
    let (code, _, err) = add(&[
        "--rule",
        "offensive-tool-user-agent",
        "--when",
        "true",
        "--reason",
        "r",
        "--owner",
        "o",
        "--expires",
        "400d",
    ]);
    assert!(code != 0 && err.contains("at most a year"), "{err}");
    let (code, _, err) = add(&["--rule", "*", "--when", "true", "--owner", "o", "--expires", "1d"]);
    assert!(code != 0 && err.contains("--reason"), "{err}");
    let (_, out, _) = cli(&lake, &["exceptions", "list", "--all", "--json"]);
    assert!(out.is_empty(), "a refused exception must write nothing: {out}");

    let when = "user_agent LIKE 'TruffleHog%' AND source_ip = '203.0.113.66'";
    let (code, out, err) = add(&[&["--rule", "offensive-tool-user-agent", "--when", when][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Added exception"), "{out}");

    // The scanner's alert is recorded but delivered nowhere; the intrusion's other steps are.
    let jsonl = dir.path().join("alerts.jsonl");
    let out = trailhouse()
        .args(["detect", "--format", "ndjson", "--jsonl"])
        .arg(&jsonl)
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = rows(&String::from_utf8(out.stdout).unwrap());
    let delivered = rows(&std::fs::read_to_string(&jsonl).unwrap());
    for alerts in [&printed, &delivered] {
        assert!(alerts.iter().all(|a| a["rule_id"] != "offensive-tool-user-agent"), "{alerts:?}");
        assert!(alerts.iter().any(|a| a["rule_id"] == "cloudtrail-tampering"), "{alerts:?}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 suppressed by exceptions"));
    let (_, out, _) = cli(&lake, &["alerts", "list", "--suppressed", "--format", "ndjson"]);
    let suppressed = rows(&out);
    assert_eq!(suppressed.len(), 1, "{out}");
    assert_eq!(suppressed[0]["rule_id"], "offensive-tool-user-agent");
    let (_, out, _) = cli(&lake, &["exceptions", "list", "--json"]);
    let listed = rows(&out);
    assert_eq!((listed.len(), listed[0]["suppressed"].as_i64()), (1, Some(1)), "{out}");
    assert_eq!(suppressed[0]["suppressed_by"], listed[0]["exception_id"]);
    // A suppressed alert is judged benign: it is no step of the incident.
    let (_, out, _) = cli(&lake, &["incidents", "list", "--format", "ndjson"]);
    let incident_id = rows(&out)[0]["incident_id"].as_str().unwrap().to_string();
    let (_, out, _) = cli(&lake, &["incidents", "show", &incident_id, "--json"]);
    assert!(!out.contains("offensive-tool-user-agent"), "{out}");

    // Removed: no longer in force, still in the history.
    let id = listed[0]["exception_id"].as_str().unwrap();
    let (code, out, err) = cli(&lake, &["exceptions", "remove", id, "--by", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Removed"), "{out}");
    let (_, out, _) = cli(&lake, &["exceptions", "list", "--json"]);
    assert!(out.is_empty(), "{out}");
    let (_, out, _) = cli(&lake, &["exceptions", "list", "--all", "--json"]);
    let history = rows(&out);
    assert_eq!(
        (history.len(), history[0]["state"].as_str(), history[0]["removed_by"].as_str()),
        (1, Some("removed"), Some("alice"))
    );
}

#[test]
fn rule_settings_turn_rules_off_change_them_and_put_them_in_shadow_without_editing_them() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    write_logs(&logs);
    let out = trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let settings = dir.path().join("trailhouse.toml");
    let detect = |text: &str| {
        std::fs::write(&settings, text).unwrap();
        let out = trailhouse()
            .args(["detect", "--dry-run", "--show-suppressed", "--format", "ndjson", "--config"])
            .arg(&settings)
            .arg("--lake")
            .arg(&lake)
            .output()
            .unwrap();
        (out.status.code(), rows(&String::from_utf8(out.stdout).unwrap()), String::from_utf8(out.stderr).unwrap())
    };
    // A misspelt rule, and an unknown key, fail at start naming the file and line.
    let (code, _, err) = detect("\n[rule_settings.\"cloudtrail-tamperin\"]\nmode = \"shadow\"\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("trailhouse.toml line 2") && err.contains("did you mean cloudtrail-tampering"), "{err}");
    let (code, _, err) = detect("[rule_settings.\"cloudtrail-tampering\"]\nmode = \"quiet\"\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1") && err.contains("quiet"), "{err}");

    let (code, alerts, err) = detect(
        "[rule_settings.\"cloudtrail-tampering\"]\nmode = \"shadow\"\n\n\
         [rule_settings.\"guardduty-disabled\"]\nenabled = false\n\n\
         [rule_settings.\"tactic:discovery\"]\nseverity = \"low\"\n\n\
         [rule_settings.\"iam-user-created\"]\nexclude_accounts = [\"111122223333\"]\n",
    );
    assert_eq!(code, Some(3), "{err}");
    let find = |id: &str| alerts.iter().find(|a| a["rule_id"] == id);
    assert_eq!(find("cloudtrail-tampering").unwrap()["shadow"], true, "shadow: shown, marked");
    assert!(find("guardduty-disabled").is_none(), "disabled");
    assert!(find("iam-user-created").is_none(), "its only account is excluded");
    assert_eq!(find("iam-account-authorization-details").unwrap()["severity"], "low", "the tactic's severity");
    assert!(err.contains("1 from shadow rules"), "{err}");
}

#[test]
fn a_backtest_reports_what_a_rule_would_raise_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    write_logs(&logs);
    let out = trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let backtest = |rule: &str| cli(&lake, &["rules", "backtest", rule, "--since", "3650d", "--format", "json"]);

    let (code, out, err) = backtest("cloudtrail-tampering");
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["alerts"], 1, "{out}");
    assert_eq!(report["per_day"], serde_json::json!([["2026-11-20", 1]]));
    assert_eq!(report["per_principal"], serde_json::json!([["ci-deployer", 1]]));
    assert_eq!(report["first"][0]["rule_id"], "cloudtrail-tampering");

    // A rule file not in any pack: a copy of a pack rule under a new id.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/detections/packs/trailhouse/iam-user-created.toml"),
    )
    .unwrap()
    .replacen("id = \"iam-user-created\"", "id = \"my-new-user-rule\"", 1);
    let file = dir.path().join("my-new-user-rule.toml");
    std::fs::write(&file, text).unwrap();
    let (code, out, err) = backtest(file.to_str().unwrap());
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["rules"][0].as_str(), report["alerts"].as_i64()), (Some("my-new-user-rule"), Some(1)), "{out}");

    let (code, _, err) = backtest("no-such-rule");
    assert_ne!(code, 0);
    assert!(err.contains("neither a rule file nor a rule of the pack"), "{err}");
    // Alerts as OCSF Detection Findings (a dry run records nothing either).
    let out = trailhouse().args(["detect", "--dry-run", "--format", "ocsf", "--lake"]).arg(&lake).output().unwrap();
    let findings = rows(&String::from_utf8(out.stdout).unwrap());
    assert!(findings.len() >= 8, "{findings:?}");
    assert!(
        findings
            .iter()
            .all(|f| f["class_uid"] == 2004 && f["type_uid"] == 200_401 && f["finding_info"]["uid"].is_string())
    );
    // Nothing was recorded: no alerts, no runs, no incidents.
    for table in ["alerts", "detection_runs", "incidents"] {
        assert!(!lake.join(table).exists(), "{table} written by a backtest");
    }
}

#[test]
fn a_sigma_filter_loads_as_exceptions_that_suppress_only_alerts_whose_events_all_match() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, lake) = (dir.path().join("logs"), dir.path().join("lake"));
    write_logs(&logs);
    let out = trailhouse().args(["ingest", "--source"]).arg(&logs).arg("--lake").arg(&lake).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // The trail's own pipeline stops and restarts logging from CI: not for the pack's rule
    // nor for SigmaHQ's (named by its Sigma id).
    let matching = write(
        "ci-trail.yml",
        "title: CI pipeline maintains the trail\ndescription: ci-deployer stops logging during trail migrations.\n\
         logsource:\n  product: aws\n  service: cloudtrail\nfilter:\n  rules:\n    - cloudtrail-tampering\n    - \
         4db60cc0-36fb-42b7-9b58-a5b53019fb74\n  selection:\n    userIdentity.userName: ci-deployer\n    \
         eventName: StopLogging\n  condition: not selection\n",
    );
    let other = write(
        "guardduty.yml",
        "title: only from the office\nfilter:\n  rules: [guardduty-disabled]\n  selection:\n    \
         sourceIPAddress: 10.1.2.3\n  condition: not selection\n",
    );
    let unknown =
        write("unknown.yml", "title: x\nfilter:\n  rules: [no-such-rule]\n  s: {eventName: X}\n  condition: not s\n");
    let add = |f: &Path| {
        let mut c = trailhouse();
        c.args(["exceptions", "add", "--owner", "secops", "--expires", "30d", "--sigma-filter"])
            .arg(f)
            .arg("--lake")
            .arg(&lake);
        c.output().unwrap()
    };
    // The same by hand: --events, checked against the lake's columns when added.
    let (code, _, err) = cli(
        &lake,
        &[
            "exceptions",
            "add",
            "--rule",
            "iam-user-created",
            "--when",
            "true",
            "--events",
            "usragent = 'x'",
            "--reason",
            "r",
            "--owner",
            "o",
            "--expires",
            "1d",
        ],
    );
    assert!(code != 0 && err.contains("event condition"), "{err}");
    let out = add(&unknown);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-rule, which no pack has"));
    for f in [&matching, &other] {
        let out = add(f);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (_, out, _) = cli(&lake, &["exceptions", "list", "--json"]);
    let listed = rows(&out);
    let mut rules: Vec<&str> = listed.iter().map(|e| e["rule"].as_str().unwrap()).collect();
    rules.sort();
    assert_eq!(rules, ["cloudtrail-tampering", "guardduty-disabled", "sigma-aws-cloudtrail-disable-logging"], "{out}");
    assert!(listed.iter().all(|e| e["event_condition"].is_string()), "{out}");
    let tampering = listed.iter().find(|e| e["rule"] == "cloudtrail-tampering").unwrap();
    assert!(tampering["reason"].as_str().unwrap().starts_with("CI pipeline maintains the trail"));

    let out =
        trailhouse().args(["detect", "--pack", "all", "--format", "ndjson", "--lake"]).arg(&lake).output().unwrap();
    let delivered = rows(&String::from_utf8(out.stdout).unwrap());
    let fired: Vec<&str> = delivered.iter().map(|a| a["rule_id"].as_str().unwrap()).collect();
    assert!(
        !fired.contains(&"cloudtrail-tampering") && !fired.contains(&"sigma-aws-cloudtrail-disable-logging"),
        "{fired:?}"
    );
    assert!(fired.contains(&"guardduty-disabled"), "its events do not match the filter: {fired:?}");
    let (_, out, _) = cli(&lake, &["alerts", "list", "--suppressed", "--format", "ndjson"]);
    let suppressed: Vec<String> = rows(&out).iter().map(|a| a["rule_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(suppressed.len(), 2, "{suppressed:?}");
}
