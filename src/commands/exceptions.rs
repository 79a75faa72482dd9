//! `trailhouse exceptions`: scoped, owned, expiring reasons not to deliver an alert, kept
//! in the lake's `exceptions` table (add, list, remove, expired).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detections::exception::{self, Exception};
use lake::{ALERTS_TABLE, Lake};
use serde_json::Value;

use super::alerts::{has_table, objects, session};
use crate::args::LakeAccess;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ExceptionsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ExceptionsCommand {
    /// Add an exception: alerts of RULE whose fields match --when are recorded as
    /// suppressed, never delivered, until it expires.
    ///
    /// --when is SQL over the alert's fields: rule_id, severity, title, principal, identity,
    /// account, source_ip, region, event_name, user_agent (each set only when the alert has
    /// exactly one; the lists are accounts, source_ips, regions, event_names, user_agents),
    /// events, first_seen, last_seen, details (JSON text), and functions such as cidr_match.
    ///
    /// Examples:
    ///   trailhouse exceptions add --rule discovery-burst --when "principal = 'prowler' AND cidr_match(source_ip, '10.20.0.0/16')" \
    ///       --reason "weekly Prowler scan from the security VPC" --owner secops@example.com --expires 90d
    ///   trailhouse exceptions add --rule '*' --when "identity = 'arn:aws:iam::111122223333:role/red-team'" \
    ///       --reason "red-team exercise RT-12" --owner alice --expires 2027-01-31
    #[command(verbatim_doc_comment)]
    Add(AddArgs),
    /// The exceptions in force (with --all, removed and expired ones too) and how many
    /// alerts each has suppressed.
    List(ListArgs),
    /// Remove an exception (its history stays in the table).
    Remove(RemoveArgs),
    /// Exceptions that have expired and no longer apply: renew them (add again) or let
    /// them go.
    Expired(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// The rule's id, or '*' for every rule.
    #[arg(long, required_unless_present = "sigma_filter", conflicts_with = "sigma_filter")]
    pub rule: Option<String>,
    /// The condition, SQL over the alert's fields (see above); `true` for all of the rule's
    /// alerts.
    #[arg(long, value_name = "SQL", required_unless_present = "sigma_filter", conflicts_with = "sigma_filter")]
    pub when: Option<String>,
    /// Also require every event the alert lists to match this SQL over the lake's
    /// `cloudtrail` rows (e.g. "useragent LIKE 'Prowler/%'"); checked when added.
    #[arg(long, value_name = "SQL", conflicts_with = "sigma_filter")]
    pub events: Option<String>,
    /// A Sigma filter (pySigma's `filter:` YAML: `rules:`, selections, `condition: not
    /// ...`): one exception per rule it lists, suppressing an alert when every one of its
    /// events matches the filter's selection.
    #[arg(long, value_name = "FILE")]
    pub sigma_filter: Option<PathBuf>,
    /// Why these alerts are not worth anyone's time [default for a Sigma filter: its title
    /// and description].
    #[arg(long, required_unless_present = "sigma_filter")]
    pub reason: Option<String>,
    /// Who answers for it.
    #[arg(long)]
    pub owner: String,
    /// When it stops applying: a duration from now (30d, 12w as 84d) or a date
    /// (2027-01-31, the end of that day UTC); at most a year.
    #[arg(long, value_name = "DURATION|DATE")]
    pub expires: String,
    /// A folder of your own rules, so --rule may name one of them.
    #[arg(long, env = "TRAILHOUSE_RULES")]
    pub rules: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// Removed and expired exceptions too.
    #[arg(long)]
    pub all: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// The exception's id (`exceptions list` shows it).
    pub id: String,
    /// Who removes it [default: $USER].
    #[arg(long)]
    pub by: Option<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        ExceptionsCommand::Add(a) => add(a).await,
        ExceptionsCommand::List(l) => list(l, false).await,
        ExceptionsCommand::Expired(l) => list(l, true).await,
        ExceptionsCommand::Remove(r) => remove(r).await,
    }
}

/// `30d` from `now`, or the end of the day `2027-01-31` (UTC).
fn expiry(text: &str, now: i64) -> Result<i64> {
    if let Some(d) = lake::time::parse_duration(text) {
        return Ok(now + d);
    }
    if text.len() == 10
        && let Some(end) = lake::time::parse_lenient(&format!("{text}T23:59:59"))
    {
        return Ok(end);
    }
    if let Some(t) = lake::time::parse_lenient(text) {
        return Ok(t);
    }
    bail!("--expires {text:?}: give a duration (30d, 90d) or a date (2027-01-31)")
}

/// Every rule there is: the built-in packs and `--rules DIR`.
fn known_rules(dir: Option<&std::path::Path>) -> Result<Vec<detections::rule::Rule>> {
    let mut known = detections::pack::builtin()?;
    known.extend(detections::pack::builtin_sigma()?.0);
    if let Some(dir) = dir {
        known.extend(detections::pack::load_dir(dir)?);
    }
    Ok(known)
}

async fn add(a: AddArgs) -> Result<ExitCode> {
    if let Some(file) = &a.sigma_filter {
        return add_sigma_filter(&a, file).await;
    }
    let (Some(rule), Some(when), Some(reason)) = (a.rule.as_deref(), a.when.as_deref(), a.reason.as_deref()) else {
        bail!("--rule, --when and --reason are needed (or --sigma-filter FILE)");
    };
    let rule = rule.trim();
    if rule != "*" && rule != detections::incident::SEQUENCE_RULE {
        let known: Vec<String> = known_rules(a.rules.as_deref())?.into_iter().map(|r| r.id).collect();
        if !known.iter().any(|k| k == rule) {
            let near = datafusion::common::utils::datafusion_strsim::levenshtein;
            let mut close: Vec<&String> = known.iter().filter(|k| near(k, rule) <= 3 || k.contains(rule)).collect();
            close.truncate(5);
            bail!(
                "no rule {rule:?}{} (`trailhouse rules list` shows them; --rules DIR for your own; '*' for every rule)",
                if close.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", close.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                }
            );
        }
    }
    let now = lake::time::now_micros();
    let mut e = Exception::new(rule, when, reason, &a.owner, expiry(&a.expires, now)?, now)?;
    if let Some(sql) = &a.events {
        e = e.with_events(sql).await?;
    }
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await.with_context(|| {
        format!("cannot open the lake at {} (fill it with `trailhouse ingest` first)", a.lake.location())
    })?;
    exception::add(&lake, &e).await?;
    println!(
        "Added exception {} for {}: {} (until {}). Alerts it matches are recorded as suppressed, never delivered.",
        e.exception_id,
        if e.rule == "*" { "every rule".to_string() } else { format!("rule {}", e.rule) },
        e.condition,
        detections::alert::rfc3339(e.expires_at)
    );
    Ok(ExitCode::SUCCESS)
}

/// `exceptions add --sigma-filter FILE`: one exception per rule the filter lists.
async fn add_sigma_filter(a: &AddArgs, file: &std::path::Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let filter = detections::sigma::filter::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let known = known_rules(a.rules.as_deref())?;
    let mut rules = Vec::new();
    for wanted in &filter.rules {
        let found = known.iter().find(|r| {
            r.id == *wanted
                || r.sigma.as_ref().is_some_and(|s| s.id == *wanted)
                || r.id == detections::sigma::rule_id(wanted)
        });
        match found {
            Some(r) => rules.push(r.id.clone()),
            None => bail!(
                "{}: the filter names rule {wanted}, which no pack has (--rules DIR for your own)",
                file.display()
            ),
        }
    }
    let reason = a.reason.clone().unwrap_or_else(|| {
        if filter.description.is_empty() {
            filter.title.clone()
        } else {
            format!("{}: {}", filter.title, filter.description)
        }
    });
    let now = lake::time::now_micros();
    let expires = expiry(&a.expires, now)?;
    let mut made = Vec::new();
    for rule in &rules {
        made.push(Exception::new(rule, "true", &reason, &a.owner, expires, now)?.with_events(&filter.events).await?);
    }
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await?;
    for e in &made {
        exception::add(&lake, e).await?;
        println!(
            "Added exception {} for rule {} from the Sigma filter {} (until {}).",
            e.exception_id,
            e.rule,
            file.display(),
            detections::alert::rfc3339(e.expires_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(a: ListArgs, expired_only: bool) -> Result<ExitCode> {
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await?;
    let now = lake::time::now_micros();
    let all = exception::load(&lake).await?;
    let shown: Vec<&Exception> = all
        .iter()
        .filter(|e| match (expired_only, a.all) {
            (true, _) => e.removed_at.is_none() && e.expires_at <= now,
            (false, true) => true,
            (false, false) => e.active_at(now),
        })
        .collect();
    // How many alerts each has suppressed, from the alerts table.
    let session = session(&a.lake).await?;
    let mut counts = std::collections::HashMap::new();
    if has_table(&session, ALERTS_TABLE).await?
        && let Ok(rows) = session
            .sql("SELECT suppressed_by, count(*) AS n FROM alerts WHERE suppressed_by IS NOT NULL GROUP BY 1")
            .await
    {
        for r in objects(&rows)? {
            if let (Some(id), Some(n)) = (r.get("suppressed_by").and_then(Value::as_str), r.get("n")) {
                counts.insert(id.to_string(), n.as_i64().unwrap_or(0));
            }
        }
    }
    if a.json {
        for e in &shown {
            let mut v = serde_json::to_value(e)?;
            v["suppressed"] = counts.get(&e.exception_id).copied().unwrap_or(0).into();
            v["state"] = state(e, now).into();
            println!("{v}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        println!(
            "{}",
            if expired_only {
                "No expired exceptions."
            } else {
                "No exceptions in force (`trailhouse exceptions add`)."
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for e in &shown {
        println!(
            "{}  {:<8} rule {:<36} until {}  owner {}  suppressed {}\n    when {}{}\n    why  {}",
            e.exception_id,
            state(e, now),
            e.rule,
            detections::alert::rfc3339(e.expires_at),
            e.owner,
            counts.get(&e.exception_id).copied().unwrap_or(0),
            e.condition,
            e.event_condition.as_ref().map_or(String::new(), |c| format!("\n    and every event: {c}")),
            e.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn state(e: &Exception, now: i64) -> &'static str {
    match (e.removed_at, e.expires_at <= now) {
        (Some(_), _) => "removed",
        (None, true) => "expired",
        (None, false) => "active",
    }
}

async fn remove(a: RemoveArgs) -> Result<ExitCode> {
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await?;
    let by = a.by.or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
    let e = exception::remove(&lake, a.id.trim(), &by, lake::time::now_micros()).await?;
    println!("Removed exception {} (rule {}, {}).", e.exception_id, e.rule, e.condition);
    Ok(ExitCode::SUCCESS)
}
