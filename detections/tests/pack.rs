//! The built-in pack: every rule parses, and every rule's embedded tests pass through the
//! real decode -> Arrow -> DataFusion path.

#[tokio::test(flavor = "multi_thread")]
async fn every_builtin_rule_passes_its_own_tests() {
    let rules = detections::pack::builtin().unwrap();
    assert!(rules.len() >= 27, "{} rules", rules.len());
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
fn a_rule_without_a_near_miss_test_is_refused() {
    let text = r#"
id = "x"
title = "x"
severity = "low"
description = "x"
triage = "x"
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
