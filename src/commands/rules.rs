//! `trailhouse rules`: list the detection rules, run their embedded tests, lint their event
//! names against AWS's API models.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detections::alert::Alert;
use detections::rule::Rule;
use detections::run::{RunOptions, Scope};

use crate::args::{ClusterArgs, DurationArg, LakeAccess, PackArgs, age};

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
    /// Known: crates/detections/aws-api/events.tsv, generated from botocore's service models by
    /// scripts/aws-api-table.py, and the CloudTrail-only events (console sign-in, service
    /// events, S3's own names) in crates/detections/aws-api/cloudtrail-only.toml, each with the page
    /// that lists it. A name CloudTrail records that neither has belongs in that file.
    ///
    /// Prints one line per finding (file:line: rule: the value, the closest known names) and
    /// exits 1 if there is any. Findings in SigmaHQ's rules that are known are accepted
    /// (crates/detections/aws-api/sigma-upstream.toml) and only counted. A folder given with
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
    /// Run one rule over history and print what it would have raised, recording nothing:
    /// would-fire counts per day, account and principal, the top dedup keys and the first
    /// alerts. RULE is a pack rule's id (with the settings file's [rule_settings]) or a rule
    /// file (.toml, or a Sigma .yml) not in any pack yet; the lake's exceptions apply and
    /// what they would suppress is counted apart.
    ///
    /// Examples:
    ///   trailhouse rules backtest console-login-new-ip --since 30d
    ///   trailhouse rules backtest ./my-rules/new-rule.toml --since 7d --format json
    #[command(verbatim_doc_comment)]
    Backtest(Box<BacktestArgs>),
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub pack: PackArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// A rule id, or the path of a rule file.
    #[arg(value_name = "RULE|FILE")]
    pub rule: String,
    /// How far back (e.g. 7d, 30d).
    #[arg(long, default_value = "30d", value_parser = age)]
    pub since: DurationArg,
    /// How many of the first alerts to show.
    #[arg(long, default_value_t = 10)]
    pub first: usize,
    /// text, or json (one object).
    #[arg(long, value_enum, default_value_t = BacktestFormat::Text)]
    pub format: BacktestFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BacktestFormat {
    Text,
    Json,
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
        RulesCommand::Backtest(b) => backtest(*b).await,
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

/// `rules backtest`: one rule over `--since` of history, nothing recorded.
async fn backtest(a: BacktestArgs) -> Result<ExitCode> {
    let path = std::path::Path::new(&a.rule);
    let rules = if path.is_file() {
        detections::pack::load_file(path)?
    } else {
        a.pack.load_tuned(std::slice::from_ref(&a.rule), &a.lake.aws()).await.with_context(|| {
            format!("{} is neither a rule file nor a rule of the pack (`trailhouse rules list`)", a.rule)
        })?
    };
    if rules.is_empty() {
        bail!("no rule in {}", a.rule);
    }
    let lake = lake::Lake::open_existing(a.lake.location(), &a.lake.options(None)).await.with_context(|| {
        format!("cannot open the lake at {} (fill it with `trailhouse ingest` first)", a.lake.location())
    })?;
    let options = RunOptions { backtest: true, ..RunOptions::default() };
    let summary = detections::run::run_in(
        a.cluster.context(&a.lake.aws()).await?,
        &lake,
        &rules,
        Scope::Since(a.since.micros),
        &options,
    )
    .await?;
    let report = Backtest::of(&summary.alerts, a.first);
    if a.format == BacktestFormat::Json {
        let v = serde_json::json!({
            "rules": rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            "since": a.since.text,
            "alerts": report.would_fire,
            "suppressed": report.suppressed,
            "shadow": report.shadow,
            "events": report.events,
            "per_day": report.per_day,
            "per_account": report.per_account,
            "per_principal": report.per_principal,
            "top_keys": report.top_keys,
            "first": report.first,
            "seconds": summary.seconds,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    writeln!(
        out,
        "{} over the last {}: {} alert(s) would fire ({} events){}{}; nothing recorded ({:.2}s).",
        ids.join(", "),
        a.since.text,
        report.would_fire,
        report.events,
        if report.suppressed > 0 {
            format!(", {} more suppressed by exceptions", report.suppressed)
        } else {
            String::new()
        },
        if report.shadow > 0 {
            format!(" ({} of them from a rule in shadow mode)", report.shadow)
        } else {
            String::new()
        },
        summary.seconds
    )?;
    for (title, counts) in
        [("per day", &report.per_day), ("per account", &report.per_account), ("per principal", &report.per_principal)]
    {
        if counts.is_empty() {
            continue;
        }
        writeln!(out, "\n{title}:")?;
        for (k, n) in counts.iter().take(20) {
            writeln!(out, "  {n:>6}  {k}")?;
        }
        if counts.len() > 20 {
            writeln!(out, "  ... {} more", counts.len() - 20)?;
        }
    }
    if !report.top_keys.is_empty() {
        writeln!(out, "\ntop dedup keys:")?;
        for (k, n) in &report.top_keys {
            writeln!(out, "  {n:>6}  {k}")?;
        }
    }
    if !report.first.is_empty() {
        writeln!(out, "\nfirst alerts:")?;
        for line in &report.first_lines {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a backtest found.
struct Backtest {
    would_fire: usize,
    suppressed: usize,
    shadow: usize,
    events: u64,
    /// (day, alerts), in day order.
    per_day: Vec<(String, usize)>,
    /// (account, alerts), most first.
    per_account: Vec<(String, usize)>,
    per_principal: Vec<(String, usize)>,
    /// The ten dedup keys with most alerts.
    top_keys: Vec<(String, usize)>,
    first: Vec<Alert>,
    first_lines: Vec<String>,
}

impl Backtest {
    fn of(all: &[Alert], first: usize) -> Backtest {
        use std::collections::BTreeMap;
        // A shadow rule's alerts are what a backtest is for: they count as firing.
        let firing: Vec<&Alert> = all.iter().filter(|a| a.suppressed_by.is_none()).collect();
        let count = |key: &dyn Fn(&Alert) -> Vec<String>| -> BTreeMap<String, usize> {
            let mut m = BTreeMap::new();
            for a in &firing {
                for k in key(a) {
                    *m.entry(k).or_default() += 1;
                }
            }
            m
        };
        let most_first = |m: BTreeMap<String, usize>| {
            let mut v: Vec<(String, usize)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        let mut sorted = firing.clone();
        sorted.sort_by_key(|a| a.first_seen_micros);
        let first: Vec<Alert> = sorted.iter().take(first).map(|a| (*a).clone()).collect();
        let mut keys = most_first(count(&|a| vec![format!("{} {}", a.rule_id, a.dedup_key)]));
        keys.truncate(10);
        Backtest {
            would_fire: firing.len(),
            suppressed: all.iter().filter(|a| a.suppressed_by.is_some()).count(),
            shadow: all.iter().filter(|a| a.shadow && a.suppressed_by.is_none()).count(),
            events: firing.iter().map(|a| a.events).sum(),
            per_day: count(&|a| vec![a.first_seen.chars().take(10).collect()]).into_iter().collect(),
            per_account: most_first(count(&|a| a.accounts.clone())),
            per_principal: most_first(count(&|a| vec![a.principal.clone().unwrap_or_else(|| "?".into())])),
            top_keys: keys,
            first_lines: first.iter().map(detections::alert::summary_line).collect(),
            first,
        }
    }
}
