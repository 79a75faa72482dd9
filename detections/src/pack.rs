//! The rule pack: the rules built into the binary (`detections/rules/*.toml`) or the ones
//! in a folder given with `--rules`.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{DetectError, Result};
use crate::rule::Rule;

// (file name, contents) of every file in detections/rules, listed by build.rs.
include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The rules built into the binary, sorted by id.
pub fn builtin() -> Result<Vec<Rule>> {
    let rules = BUILTIN_RULES.iter().map(|(name, text)| Rule::parse(text, name)).collect::<Result<Vec<_>>>()?;
    finish(rules)
}

/// Every `*.toml` rule in `dir`, sorted by id.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>> {
    let io = |source| DetectError::Io { context: format!("reading rules from {}", dir.display()), source };
    let mut rules = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            rules.push(Rule::parse(&text, &path.display().to_string())?);
        }
    }
    finish(rules)
}

fn finish(mut rules: Vec<Rule>) -> Result<Vec<Rule>> {
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    let mut seen = HashSet::new();
    for r in &rules {
        if !seen.insert(r.id.clone()) {
            return Err(DetectError::Rule { origin: r.id.clone(), message: "two rules have this id".into() });
        }
    }
    Ok(rules)
}

/// The rules whose id is in `ids` (all when `ids` is empty); an unknown id is an error.
pub fn select(rules: Vec<Rule>, ids: &[String]) -> Result<Vec<Rule>> {
    if ids.is_empty() {
        return Ok(rules);
    }
    for id in ids {
        if !rules.iter().any(|r| &r.id == id) {
            return Err(DetectError::Rule {
                origin: id.clone(),
                message: "no rule has this id (`trailhouse rules list`)".into(),
            });
        }
    }
    Ok(rules.into_iter().filter(|r| ids.contains(&r.id)).collect())
}
