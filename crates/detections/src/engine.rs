//! Evaluating one rule: run its SQL over `events` / `history`, apply its threshold, and
//! fold the matches into deduplicated alerts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::util::display::ArrayFormatter;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use lake::schema::{
    AWS_REGION, EVENT_ID, EVENT_NAME, EVENT_TIME, RECIPIENT_ACCOUNT_ID, SOURCE_IP_ADDRESS, USER_AGENT,
    USER_IDENTITY_COL,
};

use crate::alert::{Alert, MAX_EVENT_IDS, rfc3339, stable_id};
use crate::error::{DetectError, Result};
use crate::rule::{Rule, duration_micros};
use crate::sigma::{IDENTITY, IDENTITY_SQL};

/// The column the engine adds to every rule's result: `principal(useridentity)`, the
/// actor's readable name (not a lake column).
const PRINCIPAL: &str = "principal";

/// The column the engine adds beside it: [`IDENTITY_ARN_SQL`], who an incident is about.
const IDENTITY_ARN: &str = "__identity_arn";

/// The actor as incidents group it: the ARN of the role behind an assumed-role session (a
/// role's sessions are one identity), else the caller's own ARN (an IAM user's, whichever
/// of its access keys it used; root's), else its readable name (a service).
pub static IDENTITY_ARN_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("coalesce({USER_IDENTITY_COL}.sessioncontext.sessionissuer.arn, {USER_IDENTITY_COL}.arn, {PRINCIPAL_SQL})")
});

/// One matched event.
#[derive(Debug, Clone)]
struct Hit {
    time: i64,
    eventid: String,
    principal: Option<String>,
    identity: Option<String>,
    ip: Option<String>,
    account: Option<String>,
    region: Option<String>,
    eventname: Option<String>,
    useragent: Option<String>,
    key: Vec<String>,
    /// The threshold's distinct column's value.
    distinct: Option<String>,
    details: serde_json::Map<String, serde_json::Value>,
}

/// Runs `rule` in `ctx` (which has `events` and `history` registered) and returns its
/// alerts, deduplicated within this evaluation.
pub async fn evaluate(ctx: &SessionContext, rule: &Rule) -> Result<Vec<Alert>> {
    let sql_err =
        |e: datafusion::error::DataFusionError| DetectError::Sql { rule: rule.id.clone(), message: e.to_string() };
    let sql = rule.sql.trim().trim_end_matches(';');
    let plan = ctx.sql(sql).await.map_err(sql_err)?;
    let schema = plan.schema();
    // A rule over events names the actor; one over the lake's own records (`integrity`,
    // the ledger) has no `useridentity`.
    let about_events = schema.has_column_with_unqualified_name(USER_IDENTITY_COL);
    let (actor, identity_arn) = if about_events {
        (PRINCIPAL_SQL.to_string(), IDENTITY_ARN_SQL.clone())
    } else {
        ("CAST(NULL AS VARCHAR)".into(), "CAST(NULL AS VARCHAR)".into())
    };
    // Only what an alert is made of: the few columns it shows, the dedup key, the threshold's
    // distinct column and the rule's own extra columns (details). `SELECT * FROM events`
    // then reads those few columns, not the whole row's JSON.
    let known = &*LAKE_COLUMNS;
    let used: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|name| {
            ALERT_COLUMNS.contains(&name.as_str())
                || rule.dedup.key.contains(name)
                || rule.threshold.as_ref().and_then(|t| t.distinct.as_ref()) == Some(name)
                || (!known.contains(*name) && name.as_str() != PRINCIPAL && name.as_str() != IDENTITY_ARN)
        })
        .map(|name| format!("matched.\"{}\"", name.replace('"', "\"\"")))
        .collect();
    // `identity`, the actor with a role's sessions folded into the role (Sigma's notion,
    // [`crate::sigma::IDENTITY_SQL`]), for rules that count or deduplicate by who acts: a
    // role's sessions are named per run (`i-0abc`, `botocore-session-1700000000`), so a
    // key on `principal` sees a new actor per session.
    let identity = if about_events
        && !schema.has_column_with_unqualified_name(IDENTITY)
        && rule.dedup.key.iter().any(|k| k == IDENTITY)
    {
        format!(", {IDENTITY_SQL} AS {IDENTITY}")
    } else {
        String::new()
    };
    let wrapped = format!(
        "SELECT {actor} AS {PRINCIPAL}, {identity_arn} AS {IDENTITY_ARN}{identity}, {} FROM ({sql}) AS matched",
        used.join(", ")
    );
    // Streamed: only the hits' few fields are kept, not the matched rows' every column.
    let started = std::time::Instant::now();
    let mut stream = ctx.sql(&wrapped).await.map_err(sql_err)?.execute_stream().await.map_err(sql_err)?;
    let mut all = Vec::new();
    while let Some(batch) = stream.next().await {
        all.extend(hits(&[batch.map_err(sql_err)?], rule)?);
    }
    tracing::debug!(rule = %rule.id, matched = all.len(), seconds = started.elapsed().as_secs_f64(), "rule evaluated");
    Ok(fold(rule, all))
}

/// Evaluates rules that are each a condition over `events` (compiled Sigma detections, see
/// [`crate::sigma::SigmaMeta::filter`]) in one scan: the rows any of them matches, with a
/// flag per rule, split into each rule's hits and folded as [`evaluate`] folds them. The
/// same alerts as evaluating them one by one, for one read of the data instead of one per
/// rule.
pub async fn evaluate_filters(ctx: &SessionContext, rules: &[&Rule]) -> Result<Vec<Alert>> {
    let filters: Vec<&str> = rules.iter().filter_map(|r| r.sigma.as_ref().and_then(|s| s.filter.as_deref())).collect();
    if rules.is_empty() || filters.len() != rules.len() {
        let mut out = Vec::new();
        for r in rules {
            out.extend(evaluate(ctx, r).await?);
        }
        return Ok(out);
    }
    let sql_err = |e: datafusion::error::DataFusionError| DetectError::Sql {
        rule: rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(","),
        message: e.to_string(),
    };
    // The scan keeps rows where some rule's prefilter (typed columns only) holds, so the JSON
    // columns are decoded for those rows only; each rule's full condition is then evaluated
    // only on the rows its own prefilter kept (CASE evaluates THEN on those rows alone).
    let prefilters: Vec<&str> =
        rules.iter().map(|r| r.sigma.as_ref().and_then(|s| s.prefilter.as_deref()).unwrap_or("true")).collect();
    let flags: Vec<String> = filters
        .iter()
        .zip(&prefilters)
        .enumerate()
        .map(|(i, (f, p))| match *p {
            "true" => format!("coalesce({f}, false) AS m{i}"),
            p => format!("CASE WHEN {p} THEN coalesce({f}, false) ELSE false END AS m{i}"),
        })
        .collect();
    // Rules whose condition names its events share one test of the event name (one lowering
    // and a hash lookup per row, instead of a comparison per rule); the others add theirs.
    let mut names = std::collections::BTreeSet::new();
    let mut any: Vec<String> = Vec::new();
    for (r, p) in rules.iter().zip(&prefilters) {
        match r.sigma.as_ref().and_then(|s| s.event_names.as_ref()) {
            Some(set) => names.extend(set.iter().map(|n| format!("'{}'", n.replace('\'', "''")))),
            None => any.push(format!("({p})")),
        }
    }
    if !names.is_empty() {
        any.push(format!("lower({EVENT_NAME}) IN ({})", names.into_iter().collect::<Vec<_>>().join(", ")));
    }
    if any.iter().any(|p| p == "(true)") {
        any = vec!["true".into()];
    }
    if any.is_empty() {
        // Every rule names events no event can have (`eventName: A` and `eventName: B`).
        any.push("false".into());
    }
    let columns = ALERT_COLUMNS.join(", ");
    let sql = format!(
        "SELECT {PRINCIPAL_SQL} AS {PRINCIPAL}, {columns}, \
         coalesce({USER_IDENTITY_COL}.sessioncontext.sessionissuer.arn, {PRINCIPAL_SQL}) AS {}, {} AS {IDENTITY_ARN}, \
         {} FROM events WHERE {}",
        crate::sigma::IDENTITY,
        *IDENTITY_ARN_SQL,
        flags.join(", "),
        any.join(" OR ")
    );
    tracing::trace!(%sql, "the shared scan");
    let started = std::time::Instant::now();
    let mut stream = ctx.sql(&sql).await.map_err(sql_err)?.execute_stream().await.map_err(sql_err)?;
    let mut per_rule: Vec<Vec<Hit>> = vec![Vec::new(); rules.len()];
    let base = ALERT_COLUMNS.len() + 3;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(sql_err)?;
        let rows = batch.project(&(0..base).collect::<Vec<_>>())?;
        for (i, rule) in rules.iter().enumerate() {
            let flag = batch.column(base + i).as_boolean();
            if flag.true_count() == 0 {
                continue;
            }
            let matched = arrow::compute::filter_record_batch(&rows, flag)?;
            per_rule[i].extend(hits(&[matched], rule)?);
        }
    }
    tracing::debug!(rules = rules.len(), seconds = started.elapsed().as_secs_f64(), "conditions evaluated in one scan");
    Ok(rules.iter().zip(per_rule).flat_map(|(rule, hits)| fold(rule, hits)).collect())
}

/// `principal(useridentity)` over only the leaves it reads: a scan then decodes those eight
/// leaves of the struct, not all of it (a quarter less time for the Sigma pack's shared scan
/// over the 1M-event bench lake).
pub const PRINCIPAL_SQL: &str = "principal(named_struct('type', useridentity.type, 'arn', useridentity.arn, \
    'accountid', useridentity.accountid, 'invokedby', useridentity.invokedby, 'username', useridentity.username, \
    'principalid', useridentity.principalid, 'onbehalfof', named_struct('userid', useridentity.onbehalfof.userid), \
    'sessioncontext', named_struct('sessionissuer', named_struct('username', \
    useridentity.sessioncontext.sessionissuer.username))))";

/// The lake's columns an alert shows.
const ALERT_COLUMNS: [&str; 7] =
    [EVENT_ID, EVENT_TIME, SOURCE_IP_ADDRESS, RECIPIENT_ACCOUNT_ID, AWS_REGION, EVENT_NAME, USER_AGENT];

/// The lake's own column names: any other column a rule returns is an alert detail.
static LAKE_COLUMNS: LazyLock<HashSet<String>> =
    LazyLock::new(|| lake::schema::cloudtrail_schema().fields().iter().map(|f| f.name().clone()).collect());

fn hits(batches: &[RecordBatch], rule: &Rule) -> Result<Vec<Hit>> {
    let known = &*LAKE_COLUMNS;
    let mut out = Vec::new();
    for b in batches {
        let text = |name: &str| -> Result<Option<Vec<Option<String>>>> {
            let Some(col) = b.column_by_name(name) else { return Ok(None) };
            Ok(Some(as_text(col)?))
        };
        let (Some(ids), Some(times)) = (text(EVENT_ID)?, b.column_by_name(EVENT_TIME)) else {
            return Err(DetectError::Sql {
                rule: rule.id.clone(),
                message: "the SQL must return eventid and eventtime (e.g. SELECT * FROM events ...)".into(),
            });
        };
        let times = cast(times, &lake::schema::timestamp_type())?;
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let principal = text(PRINCIPAL)?;
        let identity = text(IDENTITY_ARN)?;
        let ip = text(SOURCE_IP_ADDRESS)?;
        let account = text(RECIPIENT_ACCOUNT_ID)?;
        let region = text(AWS_REGION)?;
        let eventname = text(EVENT_NAME)?;
        let useragent = text(USER_AGENT)?;
        let mut keys = Vec::new();
        for k in &rule.dedup.key {
            keys.push(text(k)?.ok_or_else(|| DetectError::Sql {
                rule: rule.id.clone(),
                message: format!("dedup key column {k} is not in the result"),
            })?);
        }
        let distinct = match rule.threshold.as_ref().and_then(|t| t.distinct.as_ref()) {
            Some(c) => Some(text(c)?.ok_or_else(|| DetectError::Sql {
                rule: rule.id.clone(),
                message: format!("threshold.distinct column {c} is not in the result"),
            })?),
            None => None,
        };
        let extras: Vec<(String, Vec<Option<String>>)> = b
            .schema()
            .fields()
            .iter()
            .filter(|f| !known.contains(f.name()) && f.name() != PRINCIPAL && f.name() != IDENTITY_ARN)
            .map(|f| Ok((f.name().clone(), as_text(b.column_by_name(f.name()).expect("listed"))?)))
            .collect::<Result<_>>()?;
        let get = |v: &Option<Vec<Option<String>>>, i: usize| v.as_ref().and_then(|v| v[i].clone());
        for i in 0..b.num_rows() {
            let mut details = serde_json::Map::new();
            for (name, values) in &extras {
                details
                    .insert(name.clone(), values[i].clone().map_or(serde_json::Value::Null, serde_json::Value::String));
            }
            out.push(Hit {
                time: if times.is_null(i) { 0 } else { times.value(i) },
                eventid: ids[i].clone().unwrap_or_default(),
                principal: get(&principal, i),
                identity: get(&identity, i),
                ip: get(&ip, i),
                account: get(&account, i),
                region: get(&region, i),
                eventname: get(&eventname, i),
                useragent: get(&useragent, i),
                key: keys.iter().map(|k| k[i].clone().unwrap_or_default()).collect(),
                distinct: get(&distinct, i),
                details,
            });
        }
    }
    Ok(out)
}

fn as_text(col: &dyn Array) -> Result<Vec<Option<String>>> {
    let f = ArrayFormatter::try_new(col, &Default::default())?;
    Ok((0..col.len()).map(|i| col.is_valid(i).then(|| f.value(i).to_string())).collect())
}

/// An alert's dedup key values and window number.
type Bucket = (Vec<String>, i64);

/// Thresholds, then one alert per (key, dedup window).
fn fold(rule: &Rule, mut hits: Vec<Hit>) -> Vec<Alert> {
    hits.sort_by(|a, b| (&a.key, a.time, &a.eventid, &a.distinct).cmp(&(&b.key, b.time, &b.eventid, &b.distinct)));
    hits.dedup_by(|a, b| a.eventid == b.eventid && a.key == b.key && a.distinct == b.distinct);
    let window = rule.dedup_window();
    // (key, bucket) -> the hits in that alert (sorted indexes).
    let groups: Vec<(Bucket, Vec<usize>)> = match &rule.threshold {
        None => {
            // Sorted by key then time, so each (key, bucket) is one run of hits.
            let mut runs = Vec::new();
            let mut start = 0;
            for end in 1..=hits.len() {
                let bucket = hits[start].time.div_euclid(window);
                if end == hits.len() || hits[end].key != hits[start].key || hits[end].time.div_euclid(window) != bucket
                {
                    runs.push(((hits[start].key.clone(), bucket), (start..end).collect()));
                    start = end;
                }
            }
            runs
        }
        Some(t) => {
            let mut groups: BTreeMap<Bucket, BTreeSet<usize>> = BTreeMap::new();
            let span = duration_micros(&t.window).unwrap_or(0);
            // Hits are sorted by key then time: slide a window over each key's run, counting
            // its events or its distinct values.
            let mut start = 0;
            let mut values: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            for end in 0..hits.len() {
                if end > 0 && hits[end].key != hits[end - 1].key {
                    start = end;
                    values.clear();
                }
                if let Some(v) = &hits[end].distinct {
                    *values.entry(v.as_str()).or_default() += 1;
                }
                while hits[end].time - hits[start].time > span {
                    if let Some(v) = &hits[start].distinct
                        && let Some(n) = values.get_mut(v.as_str())
                    {
                        *n -= 1;
                        if *n == 0 {
                            values.remove(v.as_str());
                        }
                    }
                    start += 1;
                }
                let seen = if t.distinct.is_some() { values.len() } else { end + 1 - start };
                if seen >= t.count {
                    let bucket = hits[end].time.div_euclid(window);
                    groups.entry((hits[end].key.clone(), bucket)).or_default().extend(start..=end);
                }
            }
            groups.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect()
        }
    };
    groups
        .into_iter()
        .map(|((key, bucket), idx)| {
            let members: Vec<&Hit> = idx.iter().map(|&i| &hits[i]).collect();
            let set = |f: &dyn Fn(&Hit) -> Option<String>| -> Vec<String> {
                members.iter().filter_map(|h| f(h)).collect::<BTreeSet<_>>().into_iter().collect()
            };
            let first = members.iter().map(|h| h.time).min().unwrap_or(0);
            let last = members.iter().map(|h| h.time).max().unwrap_or(0);
            let dedup_key =
                rule.dedup.key.iter().zip(&key).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            let mut parts: Vec<&str> = vec![rule.id.as_str()];
            parts.extend(key.iter().map(String::as_str));
            let bucket_text = bucket.to_string();
            parts.push(&bucket_text);
            Alert {
                alert_id: stable_id(&parts),
                rule_id: rule.id.clone(),
                title: rule.title.clone(),
                severity: rule.severity,
                dedup_key,
                principal: members.iter().find_map(|h| h.principal.clone()),
                identity: members.iter().find_map(|h| h.identity.clone()),
                source_ips: set(&|h| h.ip.clone()),
                accounts: set(&|h| h.account.clone()),
                regions: set(&|h| h.region.clone()),
                event_names: set(&|h| h.eventname.clone()),
                user_agents: set(&|h| h.useragent.clone()),
                event_ids: members.iter().take(MAX_EVENT_IDS).map(|h| h.eventid.clone()).collect(),
                events: members.len() as u64,
                first_seen: rfc3339(first),
                last_seen: rfc3339(last),
                first_seen_micros: first,
                last_seen_micros: last,
                details: members.first().map(|h| h.details.clone()).unwrap_or_default(),
                mitre: rule.mitre.clone(),
                tactics: rule.tactics.clone(),
                controls: rule.controls.clone(),
                triage: rule.triage.clone(),
                references: rule.references.clone(),
                author: rule.sigma.as_ref().map(|s| s.author.clone()).filter(|a| !a.is_empty()),
                license: rule.sigma.as_ref().map(|s| s.license.clone()).filter(|l| !l.is_empty()),
                suppressed_by: None,
                shadow: rule.scope.mode == crate::tuning::Mode::Shadow,
            }
        })
        .map(|mut a| {
            crate::alert::add_where(&mut a, enrich::installed());
            a
        })
        .collect()
}
