//! `trailhouse rules`: list the detection rules, run their embedded tests, lint their event
//! names against AWS's API models.

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
    /// List the rules: id, severity, kind (match, threshold, stateful), tactics, title.
    ///
    /// `--format markdown` prints the coverage matrix (ATT&CK tactic x rule, with technique
    /// ids; the README shows its summary, docs/detections.md every rule).
    List {
        #[command(flatten)]
        pack: PackArgs,
        /// text: one line per rule; json: one JSON object per rule (id, title, severity,
        /// tactics, mitre, controls, ...); markdown: the ATT&CK coverage matrix.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
    /// Print the SQL a rule runs (for a Sigma rule: what its detection compiled to).
    Sql {
        #[command(flatten)]
        pack: PackArgs,
        /// The rule's id (`trailhouse rules list`).
        id: String,
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
    /// Check the event sources and event names the rules compare with against AWS's API
    /// models, so a misspelt or invented name (a rule that can never match) is caught.
    ///
    /// Checked: in a TOML rule's SQL, `eventsource` / `eventname` compared with =, <>, IN,
    /// LIKE, ILIKE and CASE ... WHEN; in a Sigma rule, the eventSource / eventName values of
    /// each selection (|contains, |startswith, |endswith, wildcards and |re as patterns). A
    /// name must be an event of the sources the rule names (of any source when it names
    /// none); a pattern must match at least one known name.
    ///
    /// Known: detections/aws-api/events.tsv, generated from botocore's service models by
    /// scripts/aws-api-table.py, and the CloudTrail-only events (console sign-in, service
    /// events, S3's own names) in detections/aws-api/cloudtrail-only.toml, each with the page
    /// that lists it. A name CloudTrail records that neither has belongs in that file.
    ///
    /// Prints one line per finding (file:line: rule: the value, the closest known names) and
    /// exits 1 if there is any. Findings in SigmaHQ's rules that are known are accepted
    /// (detections/aws-api/sigma-upstream.toml) and only counted. A folder given with
    /// --rules is also linted whenever it is loaded, with warnings on stderr.
    ///
    /// Examples:
    ///   trailhouse rules lint --pack all
    ///   trailhouse rules lint --rules ./my-rules
    #[command(verbatim_doc_comment)]
    Lint {
        #[command(flatten)]
        pack: PackArgs,
        /// Also list the accepted findings.
        #[arg(long)]
        accepted: bool,
    },
}

/// How `rules list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
    Markdown,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        RulesCommand::List { pack, format, json } => {
            let format = if json { ListFormat::Json } else { format };
            let rules = pack.load(&[])?;
            let mut out = std::io::stdout().lock();
            match format {
                ListFormat::Markdown => write!(out, "{}", detections::coverage::markdown(&rules))?,
                ListFormat::Json => {
                    for r in &rules {
                        let v = serde_json::json!({
                            "id": r.id, "title": r.title, "severity": r.severity, "kind": kind(r),
                            "description": r.description.trim(), "triage": r.triage.trim(), "tactics": r.tactics,
                            "mitre": r.mitre, "controls": r.controls, "references": r.references,
                            "dedup_key": r.dedup.key, "dedup_window": r.dedup.window, "lookback": r.lookback,
                            "tests": r.tests.len(),
                            "sigma": r.sigma.as_ref().map(|s| serde_json::json!({
                                "id": s.id, "level": s.level, "status": s.status, "author": s.author,
                                "license": s.license, "file": s.file,
                            })),
                        });
                        writeln!(out, "{v}")?;
                    }
                }
                ListFormat::Text => {
                    for r in &rules {
                        let tactics: Vec<&str> = r.tactics.iter().map(|t| t.title()).collect();
                        writeln!(
                            out,
                            "{:<44} {:<8} {:<9} {:<40} {}",
                            r.id,
                            r.severity.as_str(),
                            kind(r),
                            tactics.join(", "),
                            r.title
                        )?;
                        if let Some(s) = &r.sigma {
                            writeln!(
                                out,
                                "{:<44} sigma {} level {} status {} by {}",
                                "", s.id, s.level, s.status, s.author
                            )?;
                        }
                    }
                    writeln!(out, "\n{} rules. `trailhouse rules test [ID...]` runs their tests.", rules.len())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Sql { pack, id } => {
            let rules = pack.load(std::slice::from_ref(&id))?;
            for r in &rules {
                println!("{}", r.sql.trim());
                if let Some(p) = r.sigma.as_ref().and_then(|s| s.prefilter.as_deref()) {
                    // What `detect`'s shared scan of the Sigma rules checks before reading JSON.
                    println!("-- shared scan: rows where {p}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Test { pack, ids } => {
            let rules = pack.load(&ids)?;
            let (mut passed, mut failed) = (0usize, 0usize);
            let mut out = std::io::stdout().lock();
            for r in &rules {
                let outcomes = detections::testing::test_rule(r).await?;
                if outcomes.is_empty() {
                    writeln!(out, "none  {:<40} no tests (a Sigma rule's are in <rule>.tests.toml)", r.id)?;
                    continue;
                }
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
        RulesCommand::Lint { pack, accepted } => {
            let findings = pack.lint()?;
            let (known, wrong): (Vec<_>, Vec<_>) = findings.iter().partition(|f| f.accepted.is_some());
            let mut out = std::io::stdout().lock();
            for f in &wrong {
                writeln!(out, "{f}")?;
            }
            if accepted {
                for f in &known {
                    writeln!(out, "{f}")?;
                }
            }
            let (sources, names) = detections::lint::ApiTable::builtin()?.size();
            writeln!(
                out,
                "{} findings, {} accepted (known in SigmaHQ's rules; --accepted lists them). Checked against {sources} event sources, {names} event names.",
                wrong.len(),
                known.len()
            )?;
            Ok(if wrong.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
