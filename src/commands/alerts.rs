//! `trailhouse alerts`: the lake's alerts and their triage from the terminal (list, show,
//! acknowledge, close, reopen), over the same `alerts` and `alert_triage` tables as the
//! console, so triage never needs SQL.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use detections::triage::{CloseReason, TriageChange, TriageState, alerts_with_state, triage_table};
use lake::{ALERTS_TABLE, Lake, TRIAGE_TABLE};
use query::LakeSession;
use query::output::Format;
use serde_json::Value;

use crate::args::{DurationArg, LakeAccess, age};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Alerts newest first, with their triage state.
    ///
    /// Examples:
    ///   trailhouse alerts list --severity high --state open
    ///   trailhouse alerts list --identity arn:aws:iam::111122223333:user/bob --since 7d
    #[command(verbatim_doc_comment)]
    List(ListArgs),
    /// One alert: what fired and why, its triage history and the events it names.
    Show(ShowArgs),
    /// Acknowledge alerts (someone is on them); IDs may be unique prefixes.
    Ack(TriageArgs),
    /// Close alerts with a note saying why (the next analyst reads it).
    Close(TriageArgs),
    /// Reopen closed or acknowledged alerts.
    Reopen(TriageArgs),
}

/// Filters shared by `alerts list` and `incidents list`.
#[derive(Debug, clap::Args)]
pub struct Filters {
    /// Only this severity and above (info, low, medium, high, critical).
    #[arg(long, value_parser = ["info", "low", "medium", "high", "critical"])]
    pub severity: Option<String>,
    /// Only alerts about this identity: its ARN (a role covers its sessions) or the
    /// principal's name as alerts show it.
    #[arg(long, value_name = "ARN|NAME")]
    pub identity: Option<String>,
    /// Only what was last seen within this long (e.g. 24h, 7d).
    #[arg(long, value_parser = age)]
    pub since: Option<DurationArg>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// table, csv, json or ndjson [default: table on a terminal, ndjson when piped].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    #[command(flatten)]
    pub filters: Filters,
    /// Only alerts in this triage state.
    #[arg(long, value_parser = ["open", "acknowledged", "closed"])]
    pub state: Option<String>,
    /// Only this rule's alerts.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
    /// The alerts that were not delivered instead of the others: those an exception
    /// suppressed and those of rules in shadow mode (recorded, never delivered).
    #[arg(long)]
    pub suppressed: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// The alert's id, or a unique prefix of it (at least 6 characters).
    pub id: String,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TriageArgs {
    #[command(flatten)]
    pub lake: LakeAccess,
    /// Alert ids, or unique prefixes of them (at least 6 characters).
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Why (required to close).
    #[arg(long, short)]
    pub note: Option<String>,
    /// Why it was closed, for the rule's statistics (close only).
    #[arg(long, value_parser = ["true_positive", "benign", "duplicate", "tuning_needed"])]
    pub reason: Option<String>,
    /// Who owns the alert from now on ("" unassigns).
    #[arg(long, value_name = "NAME")]
    pub assign: Option<String>,
    /// Who is making the change, for the audit trail in `alert_triage` [default: $USER].
    #[arg(long, value_name = "NAME", env = "TRAILHOUSE_TRIAGE_BY")]
    pub by: Option<String>,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    match a.command {
        AlertsCommand::List(l) => list(l).await,
        AlertsCommand::Show(s) => show(s).await,
        AlertsCommand::Ack(t) => triage(t, TriageState::Acknowledged).await,
        AlertsCommand::Close(t) => triage(t, TriageState::Closed).await,
        AlertsCommand::Reopen(t) => triage(t, TriageState::Open).await,
    }
}

/// The lake's SQL session, for reading alerts and incidents.
pub(crate) async fn session(lake: &LakeAccess) -> Result<LakeSession> {
    LakeSession::open(lake.location(), &lake.options(None))
        .await
        .with_context(|| format!("cannot open the lake at {}", lake.location()))
}

pub(crate) async fn has_table(session: &LakeSession, table: &str) -> Result<bool> {
    let schema = session.context().state().schema_for_ref(table)?;
    Ok(schema.table(table).await?.is_some())
}

/// `'text'` as a SQL literal.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A severity column's rank (info 0 .. critical 4), for "this severity and above".
pub(crate) fn severity_rank(column: &str) -> String {
    format!("CASE {column} WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END")
}

/// The filters as SQL conditions over a table aliased `a` (severity, identity, last seen).
pub(crate) fn conditions(f: &Filters) -> Vec<String> {
    let mut out = vec!["true".to_string()];
    if let Some(s) = &f.severity {
        let rank = ["info", "low", "medium", "high", "critical"].iter().position(|x| x == s).unwrap_or(0);
        out.push(format!("{} >= {rank}", severity_rank("a.severity")));
    }
    if let Some(who) = &f.identity {
        out.push(format!("(a.identity = {0} OR a.principal = {0})", quote(who)));
    }
    if let Some(since) = &f.since {
        let from = lake::time::now_micros() - since.micros;
        out.push(format!("a.last_seen >= TIMESTAMP '{}'", lake::time::format_canonical(from)));
    }
    out
}

/// Prints `batches` in `format` (table on a terminal, ndjson when piped).
pub(crate) fn print(
    batches: &[RecordBatch],
    schema: datafusion::arrow::datatypes::SchemaRef,
    format: Option<Format>,
) -> Result<()> {
    let format = format.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Ndjson });
    if format == Format::Parquet {
        bail!("parquet is not a format for alerts: use table, csv, json or ndjson");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout());
    query::output::write_batches(schema, batches, format, &mut out)?;
    out.flush()?;
    Ok(())
}

/// A cell as text: strings as they are, lists joined with ", ", nothing for null.
pub(crate) fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(v)) => {
            v.iter().map(|x| x.as_str().map_or(x.to_string(), String::from)).collect::<Vec<_>>().join(", ")
        }
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// Runs `sql` and prints its rows in `format`.
pub(crate) async fn query_and_print(session: &LakeSession, sql: &str, format: Option<Format>) -> Result<()> {
    let df = session.context().sql(sql).await?;
    let schema = df.schema().inner().clone();
    let batches = df.collect().await?;
    print(&batches, schema, format)
}

/// Rows as JSON objects.
pub(crate) fn objects(batches: &[RecordBatch]) -> Result<Vec<serde_json::Map<String, Value>>> {
    let Some(first) = batches.first() else { return Ok(vec![]) };
    let mut buf = Vec::new();
    query::output::write_batches(first.schema(), batches, Format::Json, &mut buf)?;
    let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&buf)?;
    Ok(rows)
}

/// The one id in `column` of `table` that starts with `prefix`.
pub(crate) async fn resolve(
    session: &LakeSession,
    table: &str,
    column: &str,
    prefix: &str,
    what: &str,
) -> Result<String> {
    let prefix = prefix.trim();
    if prefix.len() < 6 {
        bail!("{what} id {prefix:?} is too short: give at least 6 characters of it");
    }
    let sql = format!(
        "SELECT DISTINCT {column} FROM {table} WHERE starts_with({column}, {}) ORDER BY 1 LIMIT 3",
        quote(prefix)
    );
    let found: Vec<String> = objects(&session.sql(&sql).await?)?
        .into_iter()
        .filter_map(|r| r.get(column).and_then(Value::as_str).map(String::from))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no {what} {prefix} in this lake (`trailhouse {what}s list` shows them)"),
        many => bail!("{what} id {prefix} is ambiguous: {} ... give more of it", many.join(", ")),
    }
}

async fn list(a: ListArgs) -> Result<ExitCode> {
    let session = session(&a.lake).await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        eprintln!("No alerts yet: `trailhouse detect` raises and records them.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut filters = conditions(&a.filters);
    if let Some(state) = &a.state {
        filters.push(format!("coalesce(t.state, 'open') = {}", quote(state)));
    }
    if let Some(rule) = &a.rule {
        filters.push(format!("a.rule_id = {}", quote(rule)));
    }
    // An alerts table from before exceptions has no suppressed_by: nothing was suppressed.
    let knows_suppression = session.sql("SELECT suppressed_by FROM alerts LIMIT 0").await.is_ok();
    let suppressed_by = if knows_suppression { "a.suppressed_by" } else { "CAST(NULL AS VARCHAR)" };
    let knows_shadow = session.sql("SELECT shadow FROM alerts LIMIT 0").await.is_ok();
    let shadow = if knows_shadow { "coalesce(a.shadow, false)" } else { "false" };
    let undelivered = format!("({suppressed_by} IS NOT NULL OR {shadow})");
    filters.push(if a.suppressed { undelivered } else { format!("NOT {undelivered}") });
    let from = alerts_with_state(triage_table(&session).await?);
    let extra =
        if a.suppressed { format!("{suppressed_by} AS suppressed_by, {shadow} AS shadow, ") } else { String::new() };
    let sql = format!(
        "SELECT a.alert_id, a.severity, coalesce(t.state, 'open') AS state, {extra}a.rule_id, a.principal, \
         array_to_string(a.accounts, ',') AS accounts, array_to_string(a.source_ips, ',') AS source_ips, \
         a.first_seen, a.last_seen, a.events, a.title \
         FROM {from} WHERE {} ORDER BY a.last_seen DESC, a.alert_id LIMIT {}",
        filters.join(" AND "),
        a.filters.limit
    );
    query_and_print(&session, &sql, a.filters.format).await?;
    Ok(ExitCode::SUCCESS)
}

async fn show(a: ShowArgs) -> Result<ExitCode> {
    let session = session(&a.lake).await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        bail!("this lake has no alerts yet: `trailhouse detect` raises and records them");
    }
    let id = resolve(&session, ALERTS_TABLE, "alert_id", &a.id, "alert").await?;
    let from = alerts_with_state(triage_table(&session).await?);
    let sql = format!(
        "SELECT a.*, coalesce(t.state, 'open') AS state, t.note AS state_note FROM {from} WHERE a.alert_id = {} LIMIT 1",
        quote(&id)
    );
    let mut alert = objects(&session.sql(&sql).await?)?.into_iter().next().context("the alert vanished")?;
    if let Some(Value::String(details)) = alert.get("details") {
        let parsed = serde_json::from_str(details).unwrap_or(Value::Null);
        alert.insert("details".into(), parsed);
    }
    let history = if has_table(&session, TRIAGE_TABLE).await? {
        let columns = match triage_table(&session).await? {
            detections::triage::TriageTable::Current => "state, note, at, reason, assignee, actor, via",
            _ => "state, note, at",
        };
        let sql = format!("SELECT {columns} FROM alert_triage WHERE alert_id = {} ORDER BY at", quote(&id));
        objects(&session.sql(&sql).await?)?
    } else {
        vec![]
    };
    let events = events_of(&session, &alert).await?;
    if a.json {
        let out = serde_json::json!({ "alert": alert, "triage": history, "events": objects(&events)? });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |k: &str| text_of(alert.get(k));
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "[{}] {}", text("severity").to_uppercase(), text("title"));
    for (label, key) in [
        ("alert", "alert_id"),
        ("rule", "rule_id"),
        ("state", "state"),
        ("principal", "principal"),
        ("identity", "identity"),
        ("accounts", "accounts"),
        ("regions", "regions"),
        ("source ips", "source_ips"),
        ("first seen", "first_seen"),
        ("last seen", "last_seen"),
        ("events", "events"),
        ("event names", "event_names"),
        ("tactics", "tactics"),
        ("mitre", "mitre"),
    ] {
        let v = text(key);
        if !v.is_empty() {
            let _ = writeln!(out, "  {label:<12} {v}");
        }
    }
    if let Some(Value::Object(d)) = alert.get("details").filter(|d| d.as_object().is_some_and(|m| !m.is_empty())) {
        let _ = writeln!(out, "\nDetails:");
        for (k, v) in d {
            let _ = writeln!(out, "  {k}: {}", v.as_str().map_or(v.to_string(), String::from));
        }
    }
    let rule_id = text("rule_id");
    let advice = if rule_id == detections::incident::SEQUENCE_RULE {
        Some(detections::incident::SEQUENCE_TRIAGE.to_string())
    } else {
        let sigma = detections::pack::builtin_sigma().map(|(rules, _)| rules).unwrap_or_default();
        detections::pack::builtin()
            .unwrap_or_default()
            .into_iter()
            .chain(sigma)
            .find(|r| r.id == rule_id)
            .map(|r| r.triage)
    };
    match advice {
        Some(t) => {
            let _ = writeln!(out, "\nWhat to do:\n  {}", t.trim());
        }
        None => {
            let _ = writeln!(out, "\nWhat to do: see the triage text of rule {rule_id} in its file.");
        }
    }
    if !history.is_empty() {
        let _ = writeln!(out, "\nTriage:");
        for h in &history {
            let s = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let _ = writeln!(out, "  {}  {:<12} {}", s("at"), s("state"), s("note"));
        }
    }
    let _ = writeln!(out, "\nEvents:");
    print!("{out}");
    std::io::stdout().flush()?;
    if events.iter().all(|b| b.num_rows() == 0) {
        println!("  (none in the lake: its files were removed or the alert is about the lake's own records)");
    } else if let Some(first) = events.first() {
        print(&events, first.schema(), Some(Format::Table))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The events an alert names, from the days it spans.
async fn events_of(session: &LakeSession, alert: &serde_json::Map<String, Value>) -> Result<Vec<RecordBatch>> {
    let ids: Vec<String> = alert
        .get("event_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(quote).collect())
        .unwrap_or_default();
    let day = |k: &str| alert.get(k).and_then(Value::as_str).map(|t| t.chars().take(10).collect::<String>());
    let (Some(first), Some(last), false) = (day("first_seen"), day("last_seen"), ids.is_empty()) else {
        return Ok(vec![]);
    };
    let sql = format!(
        "SELECT eventtime, eventname, principal(useridentity) AS principal, sourceipaddress, awsregion, \
         recipientaccountid AS account, errorcode, eventid FROM cloudtrail \
         WHERE eventid IN ({}) AND eventdate BETWEEN DATE {} AND DATE {} ORDER BY eventtime",
        ids.join(", "),
        quote(&first),
        quote(&last)
    );
    Ok(session.sql(&sql).await?)
}

async fn triage(a: TriageArgs, state: TriageState) -> Result<ExitCode> {
    let session = session(&a.lake).await?;
    if !has_table(&session, ALERTS_TABLE).await? {
        bail!("this lake has no alerts yet: `trailhouse detect` raises and records them");
    }
    // Every id resolved before anything is written: one bad id changes nothing.
    let mut changes = Vec::new();
    for prefix in &a.ids {
        let id = resolve(&session, ALERTS_TABLE, "alert_id", prefix, "alert").await?;
        let reason = a.reason.as_deref().map(str::parse::<CloseReason>).transpose().map_err(anyhow::Error::msg)?;
        let by = a.by.clone().or_else(|| std::env::var("USER").ok());
        let change = TriageChange::now(&id, state, a.note.as_deref())?
            .with_reason(reason)?
            .by(by.as_deref(), "cli")
            .assigned(a.assign.as_deref());
        changes.push(change);
    }
    let lake = Lake::open_existing(a.lake.location(), &a.lake.options(None)).await?;
    detections::triage::record_all(&lake, &changes).await?;
    let verb = match state {
        TriageState::Open => "Reopened",
        TriageState::Acknowledged => "Acknowledged",
        TriageState::Closed => "Closed",
    };
    println!("{verb} {} alert{}.", changes.len(), if changes.len() == 1 { "" } else { "s" });
    Ok(ExitCode::SUCCESS)
}
