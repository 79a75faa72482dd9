//! The built-in pack: every rule parses, and every rule's embedded tests pass through the
//! real decode -> Arrow -> DataFusion path.

#[tokio::test(flavor = "multi_thread")]
async fn every_builtin_rule_passes_its_own_tests() {
    let rules = detections::pack::builtin().unwrap();
    assert!(rules.len() >= 150, "{} rules", rules.len());
    let mut failures = Vec::new();
    let mut tests = 0;
    for rule in &rules {
        for o in detections::testing::test_rule(rule).await.unwrap() {
            tests += 1;
            if !o.passed {
                failures.push(format!("{} / {}: {}", o.rule, o.test, o.message));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {tests} rule tests failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_readme_and_the_detections_page_show_the_packs_coverage_matrix() {
    let rules = detections::pack::builtin().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let page = std::fs::read_to_string(format!("{root}/docs/detections.md")).unwrap();
    let matrix = detections::coverage::markdown(&rules);
    let (summary, by_tactic) = matrix.split_once("\n### ").unwrap();
    assert!(
        readme.contains(summary.trim()),
        "README.md's coverage summary is stale: paste the top of `trailhouse rules list --format markdown` into its Detections section"
    );
    assert!(
        page.contains(by_tactic.trim()),
        "docs/detections.md's rules by tactic are stale: paste `trailhouse rules list --format markdown` (from the first ###) under its \"Every rule, by tactic\""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_example_rule_loads_and_passes_its_tests() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/detections.md")).unwrap();
    let start = readme.find("A rule:\n\n```toml\n").expect("docs/detections.md has the example rule")
        + "A rule:\n\n```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let rule = detections::rule::Rule::parse(&readme[start..end], "docs/detections.md").unwrap();
    let outcomes = detections::testing::test_rule(&rule).await.unwrap();
    assert!(outcomes.len() >= 2 && outcomes.iter().all(|o| o.passed), "{outcomes:?}");
}

#[test]
fn every_tactic_has_rules() {
    let rules = detections::pack::builtin().unwrap();
    for (tactic, under) in detections::coverage::by_tactic(&rules) {
        assert!(under.len() >= 5, "{} has {} rules", tactic.title(), under.len());
    }
}

#[test]
fn a_rule_without_a_near_miss_test_is_refused() {
    let text = r#"
id = "x"
title = "x"
severity = "low"
description = "x"
triage = "x"
tactics = ["impact"]
sql = "SELECT * FROM events"
dedup = { key = ["principal"], window = "1h" }
[[test]]
name = "m"
expect = "match"
events = ['{}']
"#;
    let e = detections::rule::Rule::parse(text, "x.toml").unwrap_err().to_string();
    assert!(e.contains("near-miss"), "{e}");
}

#[test]
fn a_rule_must_name_its_tactics_and_real_technique_ids() {
    let rule = |tactics: &str, mitre: &str| {
        format!(
            r#"
id = "x"
title = "x"
severity = "low"
description = "x"
triage = "x"
tactics = {tactics}
mitre = {mitre}
sql = "SELECT * FROM events"
dedup = {{ key = ["principal"], window = "1h" }}
[[test]]
name = "m"
expect = "match"
events = ['{{}}']
[[test]]
name = "n"
expect = "no_match"
events = ['{{}}']
"#
        )
    };
    let parse = |t: &str, m: &str| detections::rule::Rule::parse(&rule(t, m), "x.toml");
    assert!(parse(r#"["persistence", "privilege_escalation"]"#, r#"["T1098", "T1098.001"]"#).is_ok());
    let e = parse("[]", r#"["T1098"]"#).unwrap_err().to_string();
    assert!(e.contains("tactics is empty"), "{e}");
    let e = parse(r#"["lateral"]"#, r#"["T1098"]"#).unwrap_err().to_string();
    assert!(e.contains("lateral") && e.contains("lateral_movement"), "{e}");
    let e = parse(r#"["impact"]"#, r#"["T1098.1"]"#).unwrap_err().to_string();
    assert!(e.contains("T1098.1"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_test_expectation_is_reported_not_hidden() {
    let mut rule =
        detections::pack::builtin().unwrap().into_iter().find(|r| r.id == "root-access-key-created").unwrap();
    for t in &mut rule.tests {
        t.expect = match t.expect {
            detections::rule::Expect::Match => detections::rule::Expect::NoMatch,
            detections::rule::Expect::NoMatch => detections::rule::Expect::Match,
        };
    }
    let outcomes = detections::testing::test_rule(&rule).await.unwrap();
    assert!(outcomes.iter().all(|o| !o.passed), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sigmahq_rule_loads_compiles_and_passes_its_tests() {
    let (rules, problems) = detections::pack::builtin_sigma().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(rules.len(), 57);
    for r in &rules {
        let sigma = r.sigma.as_ref().unwrap();
        assert!(sigma.license.contains("DRL-1.1") && !sigma.author.is_empty(), "{}: {sigma:?}", r.id);
        let expects: Vec<_> = r.tests.iter().map(|t| t.expect).collect();
        assert!(
            expects.contains(&detections::rule::Expect::Match) && expects.contains(&detections::rule::Expect::NoMatch),
            "{}: needs a match and a near miss in its .tests.toml",
            r.id
        );
    }
    let failures = failing_tests(&rules).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_sigma_rule_the_compiler_cannot_take_is_named_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    let good = include_str!("../../packs/sigma/aws_enum_buckets.yml");
    std::fs::write(dir.path().join("good.yml"), good).unwrap();
    std::fs::write(dir.path().join("good.tests.toml"), include_str!("../../packs/sigma/aws_enum_buckets.tests.toml"))
        .unwrap();
    let bad = good.replace("eventName: 'ListBuckets'", "eventName|base64offset: 'ListBuckets'");
    assert_ne!(bad, good);
    std::fs::write(dir.path().join("bad.yml"), bad).unwrap();
    std::fs::write(
        dir.path().join("keywords.yml"),
        good.replace("    filter:\n", "    keywords:\n        - evil\n    filter:\n"),
    )
    .unwrap();
    let (rules, problems) = detections::pack::load_dir_reporting(dir.path()).unwrap();
    assert_eq!(rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["sigma-good"]);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let bad = problems.iter().find(|p| p.contains("bad.yml")).unwrap();
    assert!(
        bad.contains("|base64offset")
            && bad.contains("detection.selection.eventName|base64offset")
            && bad.contains("line "),
        "{bad}"
    );
    assert!(problems.iter().any(|p| p.contains("keywords.yml") && p.contains("keyword search")), "{problems:#?}");
}

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sigma-examples")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigma_correlations_count_events_values_and_rules_within_their_timespan() {
    let (rules, problems) = detections::pack::load_dir_reporting(&examples()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    // The correlated rules do not alert on their own (no `generate: true`).
    let thresholds: Vec<String> = rules
        .iter()
        .map(|r| {
            let t = r.threshold.as_ref().expect("a correlation is a threshold rule");
            format!("{} {} {} {:?} {:?}", r.id, t.count, t.window, t.distinct, r.dedup.key)
        })
        .collect();
    assert_eq!(
        thresholds,
        [
            r#"sigma-mr-console-login-failures 5 10m None ["group_sourceipaddress"]"#,
            r#"sigma-mr-new-key-then-logging-stopped 2 1h Some("sigma_rule") ["group_user"]"#,
            r#"sigma-mr-region-sweep 4 1h Some("value_awsregion") ["group_useridentity_arn"]"#,
        ]
    );
    for r in &rules {
        assert!(r.tests.iter().filter(|t| t.expect == detections::rule::Expect::NoMatch).count() >= 2, "{}", r.id);
    }
    let failures = failing_tests(&rules).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_correlation_the_engine_cannot_run_is_named_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str| std::fs::read_to_string(examples().join(name)).unwrap();
    let temporal = read("mr_new_key_then_logging_stopped.yml");
    let counting = read("mr_console_login_failures.yml");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("ordered.yml", &temporal.replace("type: temporal", "type: temporal_ordered"));
    write("bounded.yml", &counting.replace("gte: 5", "lte: 5"));
    write("unknown.yml", &counting.replace("        - failed_console_login", "        - no_such_rule"));
    // `generate: true`: the correlated rules alert on their own too.
    write("generating.yml", &temporal.replace("correlation:\n", "generate: true\ncorrelation:\n"));
    let (rules, problems) = detections::pack::load_dir_reporting(dir.path()).unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["sigma-generating", "sigma-generating-access-key-created", "sigma-generating-logging-stopped"],
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    let about = |file: &str| problems.iter().find(|p| p.contains(file)).unwrap().clone();
    let ordered = about("ordered.yml");
    assert!(ordered.contains("temporal_ordered") && ordered.contains("correlation.type") && ordered.contains("line "));
    let bounded = about("bounded.yml");
    assert!(bounded.contains("condition lte") && bounded.contains("correlation.condition.lte"), "{bounded}");
    assert!(about("unknown.yml").contains("no_such_rule"));
}

/// `rule / test: why` for each of the rules' tests that fails.
async fn failing_tests(rules: &[detections::rule::Rule]) -> Vec<String> {
    let mut failures = Vec::new();
    for r in rules {
        for o in detections::testing::test_rule(r).await.expect("the rule's tests run") {
            if !o.passed {
                failures.push(format!("{} / {}: {}", o.rule, o.test, o.message));
            }
        }
    }
    failures
}

/// A Sigma condition that no event can meet (two different event names at once) still
/// runs in the shared scan: it matches nothing, and is not an SQL error.
#[tokio::test(flavor = "multi_thread")]
async fn a_sigma_condition_no_event_can_meet_runs_and_matches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rule = "title: Impossible\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    a:\n        eventName: StopLogging\n    b:\n        eventName: DeleteTrail\n    condition: a and b\nlevel: low\n";
    std::fs::write(dir.path().join("impossible.yml"), rule).unwrap();
    let event = r#"'''{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging"}'''"#;
    std::fs::write(
        dir.path().join("impossible.tests.toml"),
        format!(
            "[[test]]\nname = \"m\"\nexpect = \"match\"\nevents = [{event}]\n[[test]]\nname = \"n\"\nexpect = \"no_match\"\nevents = [{event}]\n"
        ),
    )
    .unwrap();
    let (rules, problems) = detections::pack::load_dir_reporting(dir.path()).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(rules[0].sigma.as_ref().unwrap().event_names, Some(Default::default()));
    let outcomes = detections::testing::test_rule(&rules[0]).await.unwrap();
    let messages: Vec<(bool, &str)> = outcomes.iter().map(|o| (o.passed, o.message.as_str())).collect();
    assert_eq!(messages, [(false, "expected a match, got none"), (true, "0 alert(s)")]);
}

#[test]
fn both_builtin_packs_name_only_events_cloudtrail_records() {
    let findings = detections::lint::lint_builtin(true, true).unwrap();
    let wrong: Vec<String> = findings.iter().filter(|f| f.accepted.is_none()).map(|f| f.to_string()).collect();
    assert!(wrong.is_empty(), "`trailhouse rules lint --pack all` finds:\n{}", wrong.join("\n"));
    // Every accepted finding is still there: a fixed SigmaHQ rule drops its entry.
    let upstream = include_str!("../../aws-api/sigma-upstream.toml");
    let accepted = findings.iter().filter(|f| f.accepted.is_some()).count();
    assert_eq!(accepted, upstream.matches("[[finding]]").count(), "crates/detections/aws-api/sigma-upstream.toml");
}

#[test]
fn a_folder_rule_with_a_misspelt_name_is_linted_with_its_closest_names() {
    let dir = tempfile::tempdir().unwrap();
    let rule =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/packs/trailhouse/root-console-login.toml"))
            .unwrap();
    let bad = rule.replacen("'ConsoleLogin'", "'ConsoleLogon'", 1);
    assert_ne!(bad, rule, "the rule compares eventname with 'ConsoleLogin'");
    std::fs::write(dir.path().join("root-console-login.toml"), &bad).unwrap();
    let findings = detections::lint::lint_dir(dir.path()).unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let f = &findings[0];
    assert_eq!((f.rule.as_str(), f.value.as_str()), ("root-console-login", "ConsoleLogon"));
    assert_eq!(bad.lines().nth(f.line - 1).map(|l| l.contains("'ConsoleLogon'")), Some(true), "line {}", f.line);
    assert_eq!(f.closest.first().map(String::as_str), Some("ConsoleLogin"), "{f}");
}
