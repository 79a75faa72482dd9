//! The pack's coverage of the MITRE ATT&CK for IaaS matrix: which rules detect each tactic,
//! with their technique ids and how their tests know CloudTrail's shape (a positive test on
//! an event recorded from real CloudTrail, on AWS's documentation, or written by hand), as
//! the Markdown table `trailhouse rules list --format markdown` prints (the README shows its
//! summary, docs/detections.md every rule).

use std::fmt::Write;

use crate::rule::{Expect, Rule, Shape, Tactic};

/// The best shape among a rule's positive tests: recorded beats documented beats synthetic
/// (a test that says nothing is written by hand).
pub fn best_shape(rule: &Rule) -> Shape {
    let shapes = rule.tests.iter().filter(|t| t.expect == Expect::Match).filter_map(|t| t.shape);
    let mut best = Shape::Synthetic;
    for s in shapes {
        match (s, best) {
            (Shape::Recorded, _) => return Shape::Recorded,
            (Shape::Documented, Shape::Synthetic) => best = Shape::Documented,
            _ => {}
        }
    }
    best
}

/// Rules per tactic, in the matrix's order (a rule with several tactics is under each).
pub fn by_tactic(rules: &[Rule]) -> Vec<(Tactic, Vec<&Rule>)> {
    Tactic::ALL
        .iter()
        .map(|&t| {
            let mut under: Vec<&Rule> = rules.iter().filter(|r| r.tactics.contains(&t)).collect();
            under.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
            (t, under)
        })
        .collect()
}

/// The coverage matrix as Markdown: a summary (tactic, rule count) and, per tactic, its
/// rules with severity and ATT&CK techniques.
pub fn markdown(rules: &[Rule]) -> String {
    let groups = by_tactic(rules);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{} rules over the {} tactics of MITRE ATT&CK for IaaS.\n", rules.len(), Tactic::ALL.len());
    let recorded = |rules: &[&Rule]| rules.iter().filter(|r| best_shape(r) == Shape::Recorded).count();
    let all: Vec<&Rule> = rules.iter().collect();
    let _ = writeln!(
        out,
        "{} of them are tested on an event recorded from real CloudTrail (a public dataset, `shape = \"recorded\"`); the others on AWS's documentation or on events written by hand, where nothing public records the call.\n",
        recorded(&all)
    );
    out.push_str("| Tactic | ATT&CK | Rules | Tested on a recorded event |\n|---|---|---:|---:|\n");
    for (t, under) in &groups {
        let _ = writeln!(out, "| {} | {} | {} | {} |", t.title(), t.mitre_id(), under.len(), recorded(under));
    }
    for (t, under) in &groups {
        let _ = writeln!(out, "\n### {} ({})\n", t.title(), t.mitre_id());
        if under.is_empty() {
            out.push_str("No rule yet.\n");
            continue;
        }
        out.push_str("| Rule | Severity | Techniques | Tested on | Title |\n|---|---|---|---|---|\n");
        for r in under {
            let techniques = if r.mitre.is_empty() { "-".to_string() } else { r.mitre.join(", ") };
            let shape = match best_shape(r) {
                Shape::Recorded => "recorded",
                Shape::Documented => "documented",
                Shape::Synthetic => "synthetic",
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {shape} | {} |",
                r.id,
                r.severity,
                techniques,
                r.title.replace('|', "\\|")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tactic_is_listed_and_a_rule_appears_under_each_of_its_tactics() {
        let rules = crate::pack::builtin().expect("the built-in pack parses");
        let md = markdown(&rules);
        for t in Tactic::ALL {
            assert!(md.contains(&format!("### {} ({})", t.title(), t.mitre_id())), "{t:?} missing");
        }
        let multi = rules.iter().find(|r| r.tactics.len() > 1).expect("a rule with two tactics");
        let sections: Vec<&str> = md.split("\n### ").skip(1).collect();
        let holding = sections.iter().filter(|s| s.contains(&format!("`{}`", multi.id))).count();
        assert_eq!(holding, multi.tactics.len(), "{} should be under each of {:?}", multi.id, multi.tactics);
    }

    #[test]
    fn a_rules_best_positive_test_shape_is_what_the_matrix_shows() {
        let rules = crate::pack::builtin().expect("the built-in pack parses");
        let md = markdown(&rules);
        let recorded =
            rules.iter().find(|r| best_shape(r) == Shape::Recorded).expect("a rule tested on a recorded event");
        assert!(md.contains(&format!("| `{}` | {} |", recorded.id, recorded.severity)), "{}", recorded.id);
        let row = md.lines().find(|l| l.starts_with(&format!("| `{}` |", recorded.id))).expect("its row");
        assert!(row.contains("| recorded |"), "{row}");
        // A near miss on a recorded event does not make the rule's positive tests recorded.
        let mut r = recorded.clone();
        for t in &mut r.tests {
            if t.expect == Expect::Match {
                t.shape = None;
            }
        }
        assert_eq!(best_shape(&r), Shape::Synthetic);
    }
}
