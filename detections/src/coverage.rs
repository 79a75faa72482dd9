//! The pack's coverage of the MITRE ATT&CK for IaaS matrix: which rules detect each tactic,
//! with their technique ids, as the Markdown table `trailhouse rules list --format markdown`
//! prints and the README shows.

use std::fmt::Write;

use crate::rule::{Rule, Tactic};

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
    out.push_str("| Tactic | ATT&CK | Rules |\n|---|---|---:|\n");
    for (t, under) in &groups {
        let _ = writeln!(out, "| {} | {} | {} |", t.title(), t.mitre_id(), under.len());
    }
    for (t, under) in &groups {
        let _ = writeln!(out, "\n### {} ({})\n", t.title(), t.mitre_id());
        if under.is_empty() {
            out.push_str("No rule yet.\n");
            continue;
        }
        out.push_str("| Rule | Severity | Techniques | Title |\n|---|---|---|---|\n");
        for r in under {
            let techniques = if r.mitre.is_empty() { "-".to_string() } else { r.mitre.join(", ") };
            let _ = writeln!(out, "| `{}` | {} | {} | {} |", r.id, r.severity, techniques, r.title.replace('|', "\\|"));
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
}
