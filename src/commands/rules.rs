//! `trailhouse rules`: list the detection rules, run their embedded tests.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use detections::rule::Rule;

use crate::args::PackArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// List the rules: id, severity, kind (match, threshold, stateful), title.
    List {
        #[command(flatten)]
        pack: PackArgs,
        /// One JSON object per rule (id, title, severity, mitre, controls, ...).
        #[arg(long)]
        json: bool,
    },
    /// Run the rules' embedded tests through the real decode -> Arrow -> DataFusion path.
    ///
    /// Exits 1 if any test fails. Example: trailhouse rules test root-console-login
    #[command(verbatim_doc_comment)]
    Test {
        #[command(flatten)]
        pack: PackArgs,
        /// Only these rules [default: all].
        ids: Vec<String>,
    },
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        RulesCommand::List { pack, json } => {
            let rules = pack.load(&[])?;
            let mut out = std::io::stdout().lock();
            for r in &rules {
                if json {
                    let v = serde_json::json!({
                        "id": r.id, "title": r.title, "severity": r.severity, "kind": kind(r),
                        "description": r.description.trim(), "triage": r.triage.trim(), "mitre": r.mitre,
                        "controls": r.controls, "references": r.references, "dedup_key": r.dedup.key,
                        "dedup_window": r.dedup.window, "lookback": r.lookback, "tests": r.tests.len(),
                    });
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{:<40} {:<8} {:<9} {}", r.id, r.severity.as_str(), kind(r), r.title)?;
                }
            }
            if !json {
                writeln!(out, "\n{} rules. `trailhouse rules test [ID...]` runs their tests.", rules.len())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test { pack, ids } => {
            let rules = pack.load(&ids)?;
            let (mut passed, mut failed) = (0usize, 0usize);
            let mut out = std::io::stdout().lock();
            for r in &rules {
                let outcomes = detections::testing::test_rule(r).await?;
                let bad: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
                passed += outcomes.len() - bad.len();
                failed += bad.len();
                if bad.is_empty() {
                    writeln!(out, "ok    {:<40} {} tests", r.id, outcomes.len())?;
                }
                for o in bad {
                    writeln!(out, "FAIL  {:<40} {}: {}", r.id, o.test, o.message)?;
                }
            }
            writeln!(out, "\n{} rules, {passed} tests passed, {failed} failed.", rules.len())?;
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

/// A rule's kind, as `rules list` shows it.
fn kind(r: &Rule) -> &'static str {
    match (r.threshold.is_some(), r.is_stateful()) {
        (_, true) => "stateful",
        (true, false) => "threshold",
        (false, false) => "match",
    }
}
