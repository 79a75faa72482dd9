//! `GET /api/overview`: events per hour, who and where, how fresh the lake is, what was
//! quarantined, the integrity checks, the open alerts by severity and the alerts per day,
//! over the shared time range (`range`, `from`, `to`) or the `hours` ending at the newest
//! event.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use lake::{ALERTS_TABLE, INTEGRITY_TABLE};
use serde::Serialize;
use serde_json::{Value, json};

use super::alerts::SEVERITY_RANK;
use super::{Params, WINDOW_PARAMS, Window, date_literal, has_table, micros, rfc3339, run, ts_literal};
use crate::Console;
use crate::cells::{Count, counts, integers, strings};
use crate::error::ApiResult;

const HOUR: i64 = 3_600_000_000;

#[derive(Debug, Serialize)]
struct Hour {
    hour: String,
    events: i64,
}

pub async fn overview(State(console): State<Arc<Console>>, uri: Uri) -> ApiResult<Json<Value>> {
    let known = [&["hours"][..], &WINDOW_PARAMS[..]].concat();
    let params = Params::from_uri(&uri, &known)?;
    let hours = params.number("hours", 24, 1..=2160)?;
    let session = console.session().await?;
    let newest = super::newest_event(&session).await?;
    // The shared time range when the URL has one, else `hours` ending at the newest event.
    let chosen = Window::of(&params, &session).await?;
    let mut body = json!({ "lake": console.config.lake });
    let (mut events, mut per_hour, mut by_account, mut by_region, mut by_source) = (0, vec![], vec![], vec![], vec![]);
    // The window the page shows (the open alerts are counted over it too).
    let mut shown = chosen;
    if let Some(newest) = newest {
        let (from, newest) = match chosen {
            Some(w) => (w.from.max(w.to - 2160 * HOUR), w.to),
            // `range=all`: the longest the chart draws (90 days) ending at the newest event.
            None if params.text("range") == Some("all") => (newest - 2160 * HOUR, newest),
            None => (newest - i64::try_from(hours).unwrap_or(1) * HOUR, newest),
        };
        let hours = ((newest - from + HOUR - 1) / HOUR).max(1);
        // Whole hours, the chart's bars: the `hours` hours up to the one holding the newest
        // event. Whole hours are also what the hourly rollup answers (`lake::rollup`), so
        // these counts read thousands of rollup rows, not the events.
        let end = newest.div_euclid(HOUR) * HOUR + HOUR;
        let from = end - hours * HOUR;
        shown = Some(Window { from, to: newest });
        let window = format!(
            "eventtime >= {} AND eventtime < {} AND eventdate >= {} AND eventdate <= {}",
            ts_literal(from),
            ts_literal(end),
            date_literal(from),
            date_literal(newest)
        );
        body["window"] = json!({ "from": rfc3339(from), "to": rfc3339(newest), "hours": hours });
        let hourly = run(
            &session,
            &format!(
                "SELECT date_trunc('hour', eventtime) AS hour, count(*) AS events FROM cloudtrail WHERE {window} GROUP BY 1 ORDER BY 1"
            ),
        )
        .await?;
        per_hour = zero_filled(&strings(&hourly, 0)?, &integers(&hourly, 1)?);
        events = per_hour.iter().map(|h| h.events).sum();
        let top = |column: &str| {
            format!(
                "SELECT {column} AS value, count(*) AS events FROM cloudtrail WHERE {window} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
            )
        };
        by_account = counts(&run(&session, &top("recipientaccountid")).await?)?;
        by_region = counts(&run(&session, &top("awsregion")).await?)?;
        by_source = counts(&run(&session, &top("eventsource")).await?)?;
    }
    body["events"] = json!(events);
    body["events_per_hour"] = json!(per_hour);
    body["by_account"] = json!(by_account);
    body["by_region"] = json!(by_region);
    body["by_source"] = json!(by_source);
    body["freshness"] = freshness(&session, newest).await?;
    let quarantined = run(
        &session,
        "SELECT name, error, ingested_at FROM ingested_files WHERE status = 'quarantined' ORDER BY ingested_at DESC LIMIT 20",
    )
    .await?;
    let (names, errors, at) = (strings(&quarantined, 0)?, strings(&quarantined, 1)?, strings(&quarantined, 2)?);
    body["quarantined"] = names
        .into_iter()
        .zip(errors)
        .zip(at)
        .map(|((name, error), at)| json!({ "name": name, "error": error, "at": at }))
        .collect();
    body["integrity"] = if has_table(&session, INTEGRITY_TABLE).await? {
        let by_status =
            counts(&run(&session, "SELECT status, count(*) FROM integrity GROUP BY 1 ORDER BY 2 DESC").await?)?;
        let digests: i64 = by_status.iter().map(|c| c.events).sum();
        let valid: i64 = by_status.iter().filter(|c| c.value == "valid").map(|c| c.events).sum();
        json!({ "digests": digests, "valid": valid, "problems": digests - valid, "by_status": by_status })
    } else {
        Value::Null
    };
    let (mut by_day, mut totals, mut open_by_severity) = (vec![], Vec::<Count>::new(), Vec::<Value>::new());
    if has_table(&session, ALERTS_TABLE).await? {
        let daily = run(
            &session,
            "SELECT CAST(date_trunc('day', last_seen) AS DATE) AS day, severity, count(*) AS alerts FROM alerts GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await?;
        let (days, severities, n) = (strings(&daily, 0)?, strings(&daily, 1)?, integers(&daily, 2)?);
        by_day = days
            .into_iter()
            .zip(severities)
            .zip(n)
            .map(|((day, severity), alerts)| json!({ "day": day, "severity": severity, "alerts": alerts }))
            .collect();
        totals = counts(
            &run(
                &session,
                &format!("SELECT a.severity, count(*) FROM alerts a GROUP BY 1 ORDER BY min({SEVERITY_RANK}), 1"),
            )
            .await?,
        )?;
        // What needs attention: open alerts by severity (most severe first, zeros kept), in
        // the chosen range (alerts whose span meets it).
        let from = detections::triage::alerts_with_state(detections::triage::triage_table(&session).await?);
        let within = shown.map_or("true".to_string(), |w| w.alerts());
        let open = counts(
            &run(
                &session,
                &format!(
                    "SELECT a.severity, count(*) FROM {from} WHERE coalesce(t.state, 'open') = 'open' AND {within} \
                     AND NOT {undelivered} GROUP BY 1",
                    undelivered = super::alerts::undelivered_condition(&session).await
                ),
            )
            .await?,
        )?;
        open_by_severity = ["critical", "high", "medium", "low", "info"]
            .iter()
            .map(|s| json!({ "severity": s, "alerts": open.iter().find(|c| c.value == *s).map_or(0, |c| c.events) }))
            .collect();
    }
    body["open_by_severity"] = json!(open_by_severity);
    body["alerts_by_severity"] = json!(by_day);
    body["alert_totals"] = json!(totals);
    Ok(Json(body))
}

/// One entry per hour from the first to the last hour given, zero-filled between.
fn zero_filled(hours: &[String], events: &[i64]) -> Vec<Hour> {
    let given: Vec<(i64, i64)> = hours.iter().zip(events).filter_map(|(h, n)| micros(h).map(|m| (m, *n))).collect();
    let (Some(first), Some(last)) = (given.first(), given.last()) else { return vec![] };
    let mut out = Vec::new();
    let mut at = first.0;
    let mut next = given.iter().peekable();
    while at <= last.0 {
        let n = match next.peek() {
            Some((h, n)) if *h == at => {
                next.next();
                *n
            }
            _ => 0,
        };
        out.push(Hour { hour: rfc3339(at), events: n });
        at += HOUR;
    }
    out
}

/// The newest event, how far behind now it is, the ledger's last commit and counts.
async fn freshness(session: &query::LakeSession, newest: Option<i64>) -> ApiResult<Value> {
    let ledger = run(
        session,
        "SELECT max(ingested_at), sum(CASE WHEN status = 'ingested' THEN 1 ELSE 0 END), \
                sum(CASE WHEN status = 'quarantined' THEN 1 ELSE 0 END) FROM ingested_files",
    )
    .await?;
    let last_commit = strings(&ledger, 0)?.into_iter().next().filter(|s| !s.is_empty());
    let lag = newest.map(|n| (lake::time::now_micros() - n) / 1_000_000);
    Ok(json!({
        "newest_event": newest.map(rfc3339),
        "lag_seconds": lag,
        "last_commit": last_commit,
        "files_ingested": integers(&ledger, 1)?.first().copied().unwrap_or(0),
        "quarantined": integers(&ledger, 2)?.first().copied().unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_without_events_are_filled_with_zero() {
        let hours = ["2026-11-02T10:00:00Z", "2026-11-02T13:00:00Z"].map(String::from);
        let filled = zero_filled(&hours, &[5, 7]);
        let events: Vec<i64> = filled.iter().map(|h| h.events).collect();
        assert_eq!(events, [5, 0, 0, 7]);
        assert_eq!(filled[1].hour, "2026-11-02T11:00:00Z");
    }
}
