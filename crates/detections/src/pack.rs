//! The rule pack: the rules built into the binary (`crates/detections/packs/trailhouse/*.toml`) or the ones
//! in a folder given with `--rules`.

use std::collections::HashSet;
use std::path::Path;

use crate::error::{DetectError, Result};
use crate::rule::Rule;

// (file name, contents) of every file in crates/detections/packs/trailhouse, listed by build.rs.
include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The rules built into the binary, sorted by id.
pub fn builtin() -> Result<Vec<Rule>> {
    let rules = BUILTIN_RULES.iter().map(|(name, text)| Rule::parse(text, name)).collect::<Result<Vec<_>>>()?;
    finish(rules)
}

/// A Sigma rule file: (file name, text, and its tests file's name and text when it has one).
type SigmaFile<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);

/// SigmaHQ's CloudTrail rules built into the binary (`crates/detections/packs/sigma/`, DRL 1.1), with
/// their tests; and, for each that does not compile, its file and why.
pub fn builtin_sigma() -> Result<(Vec<Rule>, Vec<String>)> {
    let tests: std::collections::HashMap<&str, &str> =
        BUILTIN_SIGMA.iter().filter(|(n, _)| n.ends_with(".tests.toml")).map(|(n, t)| (*n, *t)).collect();
    let files: Vec<SigmaFile> = BUILTIN_SIGMA
        .iter()
        .filter(|(n, _)| n.ends_with(".yml"))
        .map(|(n, t)| {
            let tests_name = format!("{}.tests.toml", stem(n));
            let found = tests.get_key_value(tests_name.as_str()).map(|(k, v)| (*k, *v));
            (*n, *t, found)
        })
        .collect();
    let (rules, problems) = sigma_rules(files.into_iter(), crate::sigma::SIGMAHQ_LICENSE)?;
    Ok((finish(rules)?, problems))
}

/// Every rule in `dir`, sorted by id: `*.toml` rules, and `*.yml` Sigma rules with their
/// tests from `<rule>.tests.toml`. A Sigma rule that does not compile is logged with its
/// file and what it uses, and the others load (see [`load_dir_reporting`]).
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>> {
    let (rules, problems) = load_dir_reporting(dir)?;
    for p in &problems {
        tracing::warn!("{p}");
    }
    Ok(rules)
}

/// The rules of one file: a `*.toml` rule, or a Sigma `*.yml`/`*.yaml` file (its tests from
/// `<rule>.tests.toml` beside it). A Sigma rule that does not compile is an error saying why.
pub fn load_file(path: &Path) -> Result<Vec<Rule>> {
    let io = |cause| DetectError::Io { context: format!("reading rule file {}", path.display()), cause };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.ends_with(".toml") {
        return Ok(vec![Rule::parse(&text, &path.display().to_string())?]);
    }
    if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
        return Err(DetectError::Rule {
            origin: path.display().to_string(),
            message: "not a rule file: give a .toml rule or a .yml Sigma rule".into(),
        });
    }
    let tests_path = path.with_file_name(format!("{}.tests.toml", stem(&name)));
    let tests = std::fs::read_to_string(&tests_path).ok().map(|t| (tests_path.display().to_string(), t));
    let (rules, problems) = owned_sigma_rules(&[(path.display().to_string(), text, tests)])?;
    if let Some(p) = problems.first() {
        return Err(DetectError::Rule { origin: path.display().to_string(), message: p.clone() });
    }
    finish(rules)
}

/// [`load_dir`], with the Sigma rules that did not load (each: file and why) returned.
pub fn load_dir_reporting(dir: &Path) -> Result<(Vec<Rule>, Vec<String>)> {
    read_dir(dir)
}

/// Folders of Sigma rules added to a pack (the binary's `--sigma-dirs`, `sigma_dirs` in its
/// settings file): `*.yml` rules, their tests in `<rule>.tests.toml`.
#[derive(Debug, Default, Clone)]
pub struct PackConfig {
    pub sigma_dirs: Vec<std::path::PathBuf>,
}

impl PackConfig {
    /// The Sigma rules of every `sigma_dirs` folder, and those that did not load (`file: why`).
    pub fn sigma_rules(&self) -> Result<(Vec<Rule>, Vec<String>)> {
        let mut files = Vec::new();
        for dir in &self.sigma_dirs {
            files.extend(sigma_files(dir, &sorted_paths(dir)?)?);
        }
        let (rules, problems) = owned_sigma_rules(&files)?;
        Ok((finish(rules)?, problems))
    }
}

/// Rules of two packs together, sorted by id; an id in both is an error.
pub fn merge(mut a: Vec<Rule>, b: Vec<Rule>) -> Result<Vec<Rule>> {
    a.extend(b);
    finish(a)
}

/// (file, text, tests file and text) of a folder's Sigma rules.
type OwnedSigmaFile = (String, String, Option<(String, String)>);

/// A folder's entries, sorted.
fn sorted_paths(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let io = |cause| DetectError::Io { context: format!("reading rules from {}", dir.display()), cause };
    let mut paths: Vec<std::path::PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().map_err(io)?;
    paths.sort();
    Ok(paths)
}

/// The Sigma rule files among `paths` (a folder's), each with its tests file if it has one.
fn sigma_files(dir: &Path, paths: &[std::path::PathBuf]) -> Result<Vec<OwnedSigmaFile>> {
    let io = |cause| DetectError::Io { context: format!("reading Sigma rules from {}", dir.display()), cause };
    let mut out = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let tests_path = path.with_file_name(format!("{}.tests.toml", stem(&name)));
            let tests = std::fs::read_to_string(&tests_path).ok();
            out.push((path.display().to_string(), text, tests.map(|t| (tests_path.display().to_string(), t))));
        }
    }
    Ok(out)
}

/// [`sigma_rules`] over files read from disk.
fn owned_sigma_rules(files: &[OwnedSigmaFile]) -> Result<(Vec<Rule>, Vec<String>)> {
    sigma_rules(
        files
            .iter()
            .map(|(f, t, tests)| (f.as_str(), t.as_str(), tests.as_ref().map(|(p, t)| (p.as_str(), t.as_str())))),
        "see the rule's license field",
    )
}

/// `*.toml` rules and Sigma rules of a folder.
fn read_dir(dir: &Path) -> Result<(Vec<Rule>, Vec<String>)> {
    let io = |cause| DetectError::Io { context: format!("reading rules from {}", dir.display()), cause };
    let paths = sorted_paths(dir)?;
    let mut rules = Vec::new();
    for path in &paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".toml") && !name.ends_with(".tests.toml") {
            let text = std::fs::read_to_string(path).map_err(io)?;
            rules.push(Rule::parse(&text, &path.display().to_string())?);
        }
    }
    let (sigma, problems) = owned_sigma_rules(&sigma_files(dir, &paths)?)?;
    rules.extend(sigma);
    Ok((finish(rules)?, problems))
}

/// A rule file's name without `.yml`/`.yaml`.
fn stem(name: &str) -> &str {
    name.strip_suffix(".yml").or_else(|| name.strip_suffix(".yaml")).unwrap_or(name)
}

/// The `[[test]]` tables of a Sigma rule's `<rule>.tests.toml`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SigmaTests {
    #[serde(rename = "test", default)]
    tests: Vec<crate::rule::RuleTest>,
}

/// Sigma rules from (file, text, tests file and text): those that compile, and for each
/// that does not, `file: why`. Correlations find the rules they name in any of the files.
/// A tests file that is not valid TOML is an error.
pub(crate) fn sigma_rules<'a>(
    files: impl Iterator<Item = SigmaFile<'a>>,
    license: &str,
) -> Result<(Vec<Rule>, Vec<String>)> {
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    for (file, text, tests) in files {
        let tests = match tests {
            Some((tests_file, t)) => {
                toml::from_str::<SigmaTests>(t)
                    .map_err(|e| DetectError::Rule { origin: tests_file.to_string(), message: e.to_string() })?
                    .tests
            }
            None => vec![],
        };
        match crate::sigma::parse_file(text, file, tests, license) {
            Ok(f) => parsed.push(f),
            Err(message) => problems.push(format!("{file}: {message}")),
        }
    }
    let (rules, more) = crate::sigma::link(parsed);
    problems.extend(more);
    Ok((rules, problems))
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

/// The rules that use an IP file this process has not loaded (`geoip_city`, `geoip_asn`,
/// `aws_ip_ranges`), as one line for the run's log: without it each falls back to what its
/// description says (a heuristic, or nothing). `None` when every rule has what it uses.
pub fn ip_file_fallbacks(rules: &[Rule], e: &enrich::Enrichment) -> Option<String> {
    let uses = |sql: &str, names: &[&str]| names.iter().any(|n| sql.contains(&format!("{n}(")));
    let needs: [(&str, bool, &[&str]); 3] = [
        ("geoip_city", e.ip.has_city(), &["geo_country", "geo_city", "geo_location", "geo_distance_km"]),
        ("geoip_asn", e.ip.has_asn(), &["asn", "asn_org"]),
        ("aws_ip_ranges", e.ip.has_aws(), &["is_aws_ip", "aws_service"]),
    ];
    let mut parts = vec![];
    for (setting, loaded, functions) in needs {
        if loaded {
            continue;
        }
        let ids: Vec<&str> = rules
            .iter()
            .filter(|r| {
                let sql = r.sql.to_lowercase();
                let baselines = r.baselines.iter().any(|b| b.keys.values().any(|k| uses(&k.to_lowercase(), functions)));
                uses(&sql, functions) || baselines
            })
            .map(|r| r.id.as_str())
            .collect();
        if !ids.is_empty() {
            parts.push(format!("without {setting}: {}", ids.join(", ")));
        }
    }
    (!parts.is_empty()).then(|| {
        format!(
            "rules that use IP files this run has not loaded fall back to what their descriptions say ({})",
            parts.join("; ")
        )
    })
}
