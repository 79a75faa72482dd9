//! `trailhouse incidents`: the lake's incidents (an identity's alerts within a window,
//! grouped and scored by `detect`) from the terminal.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lake::INCIDENTS_TABLE;
use serde_json::Value;

use super::alerts::{Filters, conditions, has_table, objects, query_and_print, quote, resolve, session, text_of};
use crate::args::LakeAccess;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum IncidentsCommand {
    /// Incidents newest first (or by score), with their tactics and steps.
    ///
    /// Examples:
    ///   trailhouse incidents list --severity high
    ///   trailhouse incidents list --by-score --since 7d
    #[command(verbatim_doc_comment)]
    List(ListArgs),
    /// One incident: who, where, its tactics in kill-chain order and its alerts in time
    /// order with their triage state.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub filters: Filters,
    /// Highest score first instead of newest first.
    #[arg(long)]
    pub by_score: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// The incident's id, or a unique prefix of it (at least 6 characters).
    pub id: String,
    /// One JSON object instead of text.
    #[arg(long, conflicts_with = "ocsf")]
    pub json: bool,
    /// The incident as an OCSF Detection Finding (class 2004), one JSON object.
    #[arg(long)]
    pub ocsf: bool,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        IncidentsCommand::List(l) => list(l).await,
        IncidentsCommand::Show(s) => show(s).await,
    }
}

const NONE_YET: &str = "No incidents yet: `trailhouse detect` groups its alerts into incidents.";

async fn list(a: ListArgs) -> Result<ExitCode> {
    let session = session(&a.lake).await?;
    if !has_table(&session, INCIDENTS_TABLE).await? {
        eprintln!("{NONE_YET}");
        return Ok(ExitCode::SUCCESS);
    }
    let order = if a.by_score { "a.score DESC, a.last_seen DESC" } else { "a.last_seen DESC, a.score DESC" };
    let sql = format!(
        "SELECT a.incident_id, a.severity, a.score, a.principal, array_to_string(a.accounts, ',') AS accounts, \
         array_to_string(a.tactics, ' > ') AS tactics, a.alerts, a.first_seen, a.last_seen, a.identity \
         FROM {INCIDENTS_TABLE} a WHERE {} ORDER BY {order}, a.incident_id LIMIT {}",
        conditions(&a.filters).join(" AND "),
        a.filters.limit
    );
    query_and_print(&session, &sql, a.filters.format).await?;
    Ok(ExitCode::SUCCESS)
}

async fn show(a: ShowArgs) -> Result<ExitCode> {
    let session = session(&a.lake).await?;
    if !has_table(&session, INCIDENTS_TABLE).await? {
        bail!("{NONE_YET}");
    }
    let id = resolve(&session, INCIDENTS_TABLE, "incident_id", &a.id, "incident").await?;
    let sql = format!("SELECT * FROM {INCIDENTS_TABLE} WHERE incident_id = {} LIMIT 1", quote(&id));
    let mut incident = objects(&session.sql(&sql).await?)?.into_iter().next().context("the incident vanished")?;
    let mut steps: Vec<serde_json::Map<String, Value>> =
        incident.get("steps").and_then(Value::as_str).map(serde_json::from_str).transpose()?.unwrap_or_default();
    // Each step's triage state, as the console and `alerts list` show it.
    let lake = lake::Lake::open_existing(a.lake.location(), &a.lake.options(None)).await?;
    let ids: Vec<&str> = steps.iter().filter_map(|s| s.get("alert_id").and_then(Value::as_str)).collect();
    let states = detections::triage::states(&lake, &ids).await?;
    for s in &mut steps {
        let id = s.get("alert_id").and_then(Value::as_str).unwrap_or_default();
        let state = states.get(id).map_or("open", |t| t.as_str());
        s.insert("state".into(), state.into());
    }
    incident.insert("steps".into(), Value::Array(steps.iter().cloned().map(Value::Object).collect()));
    if a.ocsf {
        let parsed: detections::incident::Incident = serde_json::from_value(Value::Object(incident.clone()))
            .context("the incident's row does not read back as an incident")?;
        println!("{}", detections::ocsf::incident_finding(&parsed));
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&incident)?);
        return Ok(ExitCode::SUCCESS);
    }
    let text = text_of;
    let field = |k: &str| text(incident.get(k));
    println!("[{}] Incident {} (score {})", field("severity").to_uppercase(), field("incident_id"), field("score"));
    for (label, key) in [
        ("principal", "principal"),
        ("identity", "identity"),
        ("accounts", "accounts"),
        ("first seen", "first_seen"),
        ("last seen", "last_seen"),
        ("progression", "progression"),
    ] {
        println!("  {label:<12} {}", field(key));
    }
    let tactics: Vec<String> = incident
        .get("tactics")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(|t| t.replace('_', " ")).collect())
        .unwrap_or_default();
    println!("  {:<12} {}", "tactics", tactics.join(" > "));
    println!("\nSteps ({}):", steps.len());
    for s in &steps {
        let f = |k: &str| text(s.get(k));
        println!(
            "  {}  {:<8} {:<12} {:<40} {} [{}]",
            f("first_seen"),
            f("severity"),
            f("state"),
            f("rule_id"),
            f("source_ips"),
            f("alert_id")
        );
    }
    println!("\n`trailhouse alerts show ID` opens a step; `trailhouse alerts ack|close ID...` triages them.");
    Ok(ExitCode::SUCCESS)
}
