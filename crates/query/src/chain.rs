//! Credential chains: where an access key or a role session came from and what it led to.
//!
//! Every temporary credential is made by a call CloudTrail records: `AssumeRole` (and its
//! SAML and web identity forms), `GetSessionToken`, `GetFederationToken`. The call's
//! `responseelements.credentials.accessKeyId` is the new key; the caller's own key
//! (`useridentity.accesskeyid`) is its parent. Following those links up gives the chain
//! that led to a key (an IAM user's long-term key at the top); following them down gives
//! what it led to: role sessions in this and other accounts, and sessions made from those
//! (role chaining). Each credential comes with its time window and what it did.
//!
//! Two scans of the lake: one of the calls that make credentials (few), one of the
//! activity of the keys in the tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::array::RecordBatch;
use serde::Serialize;

use crate::{LakeSession, QueryError, Result};

/// The calls that make temporary credentials.
const MAKERS: &str = "'AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity', 'GetSessionToken', \
                      'GetFederationToken'";
/// How deep and wide a tree is followed (a loop of role chaining stops too).
const MAX_DEPTH: usize = 10;
const MAX_NODES: usize = 500;

/// What to start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An access key id (`AKIA...`, `ASIA...`).
    AccessKey(String),
    /// A role session's ARN (`arn:aws:sts::111122223333:assumed-role/ROLE/SESSION`).
    Session(String),
    /// A role's ARN: every session of it.
    Role(String),
}

impl Subject {
    pub fn parse(kind: &str, value: &str) -> Result<Subject> {
        let value = value.trim().to_string();
        match kind {
            "accesskey" | "key" => Ok(Subject::AccessKey(value)),
            // Any identity's ARN: a role's is every session of it; a user's or a session's,
            // the keys it used.
            "identity" if value.contains(":role/") => Ok(Subject::Role(value)),
            "identity" if value.starts_with("arn:") => Ok(Subject::Session(value)),
            "session" if value.contains(":assumed-role/") || value.contains(":federated-user/") => {
                Ok(Subject::Session(value))
            }
            "role" if value.contains(":role/") => Ok(Subject::Role(value)),
            "session" => Err(QueryError::Usage(format!(
                "{value:?} is not a role session's ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)"
            ))),
            "role" => Err(QueryError::Usage(format!("{value:?} is not a role's ARN (arn:aws:iam::ACCOUNT:role/NAME)"))),
            _ => Err(QueryError::Usage(format!("no investigation of {kind:?}: use accesskey, session or role"))),
        }
    }
}

/// How a credential was made.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Made {
    /// `AssumeRole`, `GetSessionToken`, ...
    pub call: String,
    pub at: String,
    /// The account that recorded the call.
    pub account: Option<String>,
    /// The caller's key, `None` when the caller used none (a SAML or web identity sign-in).
    pub by_key: Option<String>,
    pub by: Option<String>,
    pub role: Option<String>,
    pub session_name: Option<String>,
    pub source_identity: Option<String>,
    pub source_ip: Option<String>,
}

/// One credential of a chain.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Credential {
    pub key: String,
    /// Who used it: the user's or the session's ARN.
    pub identity: Option<String>,
    pub account: Option<String>,
    /// How it was made; `None` for a long-term key, or a key whose making the lake does not hold.
    pub made: Option<Made>,
    /// Its first and last use.
    pub first_use: Option<String>,
    pub last_use: Option<String>,
    pub calls: i64,
    pub errors: i64,
    /// Its busiest services, event names and resources, busiest first.
    pub services: Vec<(String, i64)>,
    pub event_names: Vec<(String, i64)>,
    pub resources: Vec<(String, i64)>,
    pub accounts: Vec<String>,
    /// The subject asked about (or one of its keys).
    pub subject: bool,
    pub children: Vec<Credential>,
}

impl Credential {
    /// Every credential of the tree, depth first.
    pub fn walk(&self) -> Vec<&Credential> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

/// The chains of `subject`: one tree per top-most credential (the user key that started it,
/// or the earliest key the lake knows), with the subject's own keys marked and everything
/// they led to below them. `within` is SQL over `cloudtrail` limiting both scans (a time
/// window; `true` for all).
pub async fn chains(session: &LakeSession, subject: &Subject, within: &str) -> Result<Vec<Credential>> {
    let made = makers(session, within).await?;
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for (child, m) in &made {
        if let Some(parent) = &m.by_key
            && parent != child
        {
            children.entry(parent.as_str()).or_default().push(child.as_str());
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|c| made.get(*c).map(|m| m.at.clone()));
    }
    // The subject's keys.
    let mut start: BTreeSet<String> = BTreeSet::new();
    let (column, value) = match subject {
        Subject::AccessKey(k) => {
            start.insert(k.clone());
            (None, k)
        }
        Subject::Session(arn) => {
            start.extend(made.iter().filter(|(_, m)| m.session_arn.as_deref() == Some(arn)).map(|(k, _)| k.clone()));
            (Some("useridentity.arn"), arn)
        }
        Subject::Role(arn) => {
            start.extend(made.iter().filter(|(_, m)| m.role.as_deref() == Some(arn)).map(|(k, _)| k.clone()));
            (Some("useridentity.sessioncontext.sessionissuer.arn"), arn)
        }
    };
    if let Some(column) = column {
        let sql = format!(
            "SELECT DISTINCT useridentity.accesskeyid FROM cloudtrail WHERE {column} = {} AND \
             useridentity.accesskeyid IS NOT NULL AND {within}",
            quote(value)
        );
        start.extend(rows(&session.sql(&sql).await?)?.into_iter().filter_map(|r| text(&r, "accesskeyid")));
    }
    // A role with very many sessions: the newest ones.
    if start.len() > MAX_NODES {
        let mut by_time: Vec<(Option<String>, String)> =
            start.iter().map(|k| (made.get(k).map(|m| m.at.clone()), k.clone())).collect();
        by_time.sort_by(|a, b| b.cmp(a));
        start = by_time.into_iter().take(MAX_NODES).map(|(_, k)| k).collect();
    }
    // Up from each to the top of its chain; the path down is what is shown above the subject.
    let mut roots: BTreeMap<String, ()> = BTreeMap::new();
    let mut on_path: BTreeSet<String> = BTreeSet::new();
    for key in &start {
        let mut k = key.clone();
        let mut seen = BTreeSet::new();
        while let Some(parent) = made.get(&k).and_then(|m| m.made.by_key.clone()) {
            // A loop, or a chain deeper than is drawn: the highest ancestor reached is the top.
            if !seen.insert(k.clone()) || parent == k || seen.len() > MAX_DEPTH {
                break;
            }
            on_path.insert(parent.clone());
            k = parent;
        }
        roots.insert(k, ());
    }
    // The keys in the trees: the paths, the subject's keys and all below them.
    let mut keys: BTreeSet<String> = on_path.clone();
    let mut todo: Vec<(String, usize)> = start.iter().map(|k| (k.clone(), 0)).collect();
    while let Some((k, depth)) = todo.pop() {
        if !keys.insert(k.clone()) && !start.contains(&k) || keys.len() > MAX_NODES || depth > MAX_DEPTH {
            continue;
        }
        for c in children.get(k.as_str()).into_iter().flatten() {
            if !keys.contains(*c) {
                todo.push((c.to_string(), depth + 1));
            }
        }
    }
    keys.extend(roots.keys().cloned());
    let activity = activity(session, &keys, within).await?;
    let build = Builder {
        made: &made,
        children: &children,
        start: &start,
        on_path: &on_path,
        keys: &keys,
        activity: &activity,
    };
    Ok(roots.keys().map(|r| build.node(r, false, 0)).collect())
}

struct Builder<'a> {
    made: &'a BTreeMap<String, MadeBy>,
    children: &'a HashMap<&'a str, Vec<&'a str>>,
    start: &'a BTreeSet<String>,
    on_path: &'a BTreeSet<String>,
    keys: &'a BTreeSet<String>,
    activity: &'a HashMap<String, Activity>,
}

impl Builder<'_> {
    /// The node of `key`: below a subject key every child, above one only the children on
    /// the way to a subject key.
    fn node(&self, key: &str, below_subject: bool, depth: usize) -> Credential {
        let subject = self.start.contains(key);
        let below = below_subject || subject;
        let mut kids = vec![];
        if depth < MAX_DEPTH {
            for c in self.children.get(key).into_iter().flatten() {
                let wanted =
                    if below { self.keys.contains(*c) } else { self.on_path.contains(*c) || self.start.contains(*c) };
                if wanted {
                    kids.push(self.node(c, below, depth + 1));
                }
            }
        }
        let a = self.activity.get(key).cloned().unwrap_or_default();
        let made = self.made.get(key);
        Credential {
            key: key.to_string(),
            identity: a.identity.or_else(|| made.and_then(|m| m.session_arn.clone())),
            account: a.account.or_else(|| made.and_then(|m| m.role.as_deref().and_then(arn_account))),
            made: made.map(|m| m.made.clone()),
            first_use: a.first,
            last_use: a.last,
            calls: a.calls,
            errors: a.errors,
            services: a.services,
            event_names: a.event_names,
            resources: a.resources,
            accounts: a.accounts,
            subject,
            children: kids,
        }
    }
}

/// A credential's making, with what finds it again.
struct MadeBy {
    made: Made,
    role: Option<String>,
    session_arn: Option<String>,
}

impl std::ops::Deref for MadeBy {
    type Target = Made;
    fn deref(&self) -> &Made {
        &self.made
    }
}

/// Every credential made within `within`, by its key (the first making of a key: the
/// caller's and the role's account may both record one call).
async fn makers(session: &LakeSession, within: &str) -> Result<BTreeMap<String, MadeBy>> {
    let sql = format!(
        "SELECT CAST(eventtime AS VARCHAR) AS at, eventname, recipientaccountid, useridentity.accesskeyid AS by_key, \
                useridentity.arn AS by_arn, sourceipaddress, \
                json_get_str(responseelements, 'credentials', 'accessKeyId') AS child, \
                json_get_str(requestparameters, 'roleArn') AS role, \
                json_get_str(requestparameters, 'roleSessionName') AS session_name, \
                coalesce(json_get_str(requestparameters, 'sourceIdentity'), json_get_str(responseelements, 'sourceIdentity')) AS source_identity, \
                coalesce(json_get_str(responseelements, 'assumedRoleUser', 'arn'), json_get_str(responseelements, 'federatedUser', 'arn')) AS session_arn \
         FROM cloudtrail WHERE eventsource = 'sts.amazonaws.com' AND eventname IN ({MAKERS}) AND errorcode IS NULL \
               AND responseelements IS NOT NULL AND {within} ORDER BY eventtime, useridentity.accesskeyid IS NULL"
    );
    let mut out = BTreeMap::new();
    for r in rows(&session.sql(&sql).await?)? {
        let Some(child) = text(&r, "child") else { continue };
        out.entry(child).or_insert_with(|| MadeBy {
            made: Made {
                call: text(&r, "eventname").unwrap_or_default(),
                at: canonical(&text(&r, "at").unwrap_or_default()),
                account: text(&r, "recipientaccountid"),
                by_key: text(&r, "by_key"),
                by: text(&r, "by_arn"),
                role: text(&r, "role"),
                session_name: text(&r, "session_name"),
                source_identity: text(&r, "source_identity"),
                source_ip: text(&r, "sourceipaddress"),
            },
            role: text(&r, "role"),
            session_arn: text(&r, "session_arn"),
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
struct Activity {
    identity: Option<String>,
    account: Option<String>,
    first: Option<String>,
    last: Option<String>,
    calls: i64,
    errors: i64,
    services: Vec<(String, i64)>,
    event_names: Vec<(String, i64)>,
    resources: Vec<(String, i64)>,
    accounts: Vec<String>,
}

/// What each key did within `within`: one scan for the totals, one per breakdown over the
/// same few keys.
async fn activity(session: &LakeSession, keys: &BTreeSet<String>, within: &str) -> Result<HashMap<String, Activity>> {
    let mut out: HashMap<String, Activity> = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let list = keys.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
    let used = format!("useridentity.accesskeyid IN ({list}) AND {within}");
    let totals = format!(
        "SELECT useridentity.accesskeyid AS k, max(useridentity.arn) AS identity, \
                max(useridentity.accountid) AS account, CAST(min(eventtime) AS VARCHAR) AS first, \
                CAST(max(eventtime) AS VARCHAR) AS last, count(*) AS calls, count(errorcode) AS errors, \
                array_to_string(array_sort(array_agg(DISTINCT recipientaccountid)), ',') AS accounts \
         FROM cloudtrail WHERE {used} GROUP BY 1"
    );
    for r in rows(&session.sql(&totals).await?)? {
        let Some(k) = text(&r, "k") else { continue };
        let a = out.entry(k).or_default();
        a.identity = text(&r, "identity");
        a.account = text(&r, "account");
        a.first = text(&r, "first").map(|t| canonical(&t));
        a.last = text(&r, "last").map(|t| canonical(&t));
        a.calls = number(&r, "calls");
        a.errors = number(&r, "errors");
        a.accounts = text(&r, "accounts").map(|s| s.split(',').map(String::from).collect()).unwrap_or_default();
    }
    for (column, which) in [("eventsource", 0), ("eventname", 1)] {
        let sql = format!(
            "SELECT useridentity.accesskeyid AS k, {column} AS v, count(*) AS n FROM cloudtrail WHERE {used} GROUP BY 1, 2"
        );
        for r in rows(&session.sql(&sql).await?)? {
            let (Some(k), Some(v)) = (text(&r, "k"), text(&r, "v")) else { continue };
            let a = out.entry(k).or_default();
            let list = if which == 0 { &mut a.services } else { &mut a.event_names };
            list.push((v, number(&r, "n")));
        }
    }
    let sql = format!(
        "SELECT k, get_field(r, 'arn') AS v, count(*) AS n FROM (SELECT useridentity.accesskeyid AS k, unnest(resources) AS r \
         FROM cloudtrail WHERE {used} AND resources IS NOT NULL) WHERE get_field(r, 'arn') IS NOT NULL GROUP BY 1, 2"
    );
    for r in rows(&session.sql(&sql).await?)? {
        let (Some(k), Some(v)) = (text(&r, "k"), text(&r, "v")) else { continue };
        out.entry(k).or_default().resources.push((v, number(&r, "n")));
    }
    for a in out.values_mut() {
        for list in [&mut a.services, &mut a.event_names, &mut a.resources] {
            list.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            list.truncate(8);
        }
    }
    Ok(out)
}

/// The tree as text, one credential per paragraph, indented under the one that made it.
pub fn render(trees: &[Credential]) -> String {
    let mut out = String::new();
    for t in trees {
        render_node(t, 0, &mut out);
    }
    out
}

fn render_node(c: &Credential, depth: usize, out: &mut String) {
    use std::fmt::Write;
    let pad = "    ".repeat(depth);
    if let Some(m) = &c.made {
        let what = match (&m.role, &m.session_name) {
            (Some(role), Some(s)) => format!("{} {role} as {s}", m.call),
            (Some(role), None) => format!("{} {role}", m.call),
            _ => m.call.clone(),
        };
        let _ = writeln!(
            out,
            "{pad}└─ {what} at {}{}",
            m.at,
            m.account.as_deref().map(|a| format!(" (recorded in {a})")).unwrap_or_default()
        );
    }
    let kind = if c.key.starts_with("AKIA") { "long-term key" } else { "temporary key" };
    let mark = if c.subject { "  <== asked about" } else { "" };
    let _ = writeln!(
        out,
        "{pad}{}  {kind}  {}{}{mark}",
        c.key,
        c.identity.as_deref().unwrap_or("?"),
        c.account.as_deref().map(|a| format!("  account {a}")).unwrap_or_default()
    );
    let list = |l: &[(String, i64)]| l.iter().map(|(v, n)| format!("{v} ({n})")).collect::<Vec<_>>().join(", ");
    if c.calls > 0 {
        let _ = writeln!(
            out,
            "{pad}   used {} .. {}: {} call{}, {} error{}",
            c.first_use.as_deref().unwrap_or("?"),
            c.last_use.as_deref().unwrap_or("?"),
            c.calls,
            if c.calls == 1 { "" } else { "s" },
            c.errors,
            if c.errors == 1 { "" } else { "s" }
        );
        let _ = writeln!(out, "{pad}   services: {}", list(&c.services));
        let _ = writeln!(out, "{pad}   calls: {}", list(&c.event_names));
        if !c.resources.is_empty() {
            let _ = writeln!(out, "{pad}   resources: {}", list(&c.resources));
        }
    } else {
        let _ = writeln!(out, "{pad}   no calls with it in the lake");
    }
    for k in &c.children {
        render_node(k, depth + 1, out);
    }
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

fn arn_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(String::from)
}

/// `2026-11-20T10:00:00Z` from DataFusion's text of a timestamp (`2026-11-20T10:00:00Z` or
/// with `+00:00`).
fn canonical(t: &str) -> String {
    lake::time::parse_lenient(t).map_or_else(|| t.to_string(), lake::time::format_canonical)
}

type Row = serde_json::Map<String, serde_json::Value>;

fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut buf = Vec::new();
    let mut w = arrow::json::ArrayWriter::new(&mut buf);
    for b in batches {
        w.write(b).map_err(QueryError::Format)?;
    }
    w.finish().map_err(QueryError::Format)?;
    if buf.is_empty() {
        return Ok(vec![]);
    }
    let v: Vec<Row> = serde_json::from_slice(&buf).map_err(|e| QueryError::Sql(e.to_string()))?;
    Ok(v)
}

fn text(r: &Row, k: &str) -> Option<String> {
    r.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(String::from)
}

fn number(r: &Row, k: &str) -> i64 {
    r.get(k).and_then(serde_json::Value::as_i64).unwrap_or(0)
}
