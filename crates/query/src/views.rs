//! Views for the first questions of an investigation (who, where, how they got in), and
//! `cloudtrail_logs`, the name most Athena tutorials give the CloudTrail table, so their
//! queries run with no edit at all.

use std::sync::LazyLock;

/// `(name, description, SQL)` of every view registered in a session.
pub static VIEWS: LazyLock<Vec<(&'static str, &'static str, String)>> = LazyLock::new(|| {
    let mut views: Vec<(&str, &str, String)> =
        FIXED.iter().map(|&(name, what, sql)| (name, what, sql.to_string())).collect();
    views.push((
        "ocsf_api_activity",
        "each event as OCSF 1.3.0 (API Activity 6003, Authentication 3002, Account Change 3001): \
         the records `export --format ocsf` writes",
        crate::ocsf::select("", ""),
    ));
    views.push((
        crate::lake_sql::VIEW,
        "the cloudtrail table as CloudTrail Lake's queries see it (`FROM <event data store id>`): every column and \
         eventjson, the event rebuilt as JSON",
        crate::lake_sql::view_sql(),
    ));
    views
});

/// The views whose SQL is fixed text.
const FIXED: &[(&str, &str, &str)] = &[
    ("cloudtrail_logs", "the cloudtrail table under the name Athena tutorials use", "SELECT * FROM cloudtrail"),
    (
        "actors",
        "who: one row per principal with first/last seen, accounts, IPs, regions, events, error rate",
        // Per-principal aggregates of (principal, one attribute) pairs, one grouping set
        // per attribute, then one row per principal: hash tables of small pairs that
        // spill, never a set of raw values per principal (issue 34: 1.8 GB on 1M events).
        // array_agg without ORDER BY, sorted after: DataFusion's vectorised accumulator.
        "WITH pairs AS (
           SELECT principal(useridentity) AS principal,
                  recipientaccountid AS account, sourceipaddress AS ip, awsregion AS region, eventname,
                  grouping(recipientaccountid) AS no_account,
                  grouping(sourceipaddress) AS no_ip,
                  grouping(awsregion) AS no_region,
                  grouping(eventname) AS no_action,
                  min(useridentity.type) AS identity_type,
                  min(eventtime) AS first_seen,
                  max(eventtime) AS last_seen,
                  count(*) AS events,
                  sum(CASE WHEN errorcode IS NULL THEN 0 ELSE 1 END) AS errors
           FROM cloudtrail
           GROUP BY GROUPING SETS (
             (principal(useridentity), recipientaccountid),
             (principal(useridentity), sourceipaddress),
             (principal(useridentity), awsregion),
             (principal(useridentity), eventname))
         )
         SELECT principal,
                min(identity_type) AS identity_type,
                min(first_seen) AS first_seen,
                max(last_seen) AS last_seen,
                sum(events) FILTER (WHERE no_action = 0) AS events,
                count(eventname) FILTER (WHERE no_action = 0) AS distinct_actions,
                array_sort(array_agg(account) FILTER (WHERE no_account = 0)) AS accounts,
                array_sort(array_agg(ip) FILTER (WHERE no_ip = 0)) AS source_ips,
                array_sort(array_agg(region) FILTER (WHERE no_region = 0)) AS regions,
                round(CAST(sum(errors) FILTER (WHERE no_action = 0) AS DOUBLE)
                      / sum(events) FILTER (WHERE no_action = 0), 4) AS error_rate
         FROM pairs
         GROUP BY principal",
    ),
    (
        "console_logins",
        "how people get in: every console sign-in with result and MFA",
        "SELECT eventtime, recipientaccountid AS account, principal(useridentity) AS principal,
                useridentity.type AS identity_type, sourceipaddress, useragent,
                json_get_str(responseelements, 'ConsoleLogin') AS result,
                json_get_str(additionaleventdata, 'MFAUsed') AS mfa_used,
                errormessage, eventid
         FROM cloudtrail
         WHERE eventname = 'ConsoleLogin'",
    ),
    (
        "source_ips",
        "where from: one row per source address with first/last seen, principals, events, errors",
        // From (address, principal) pairs, as `actors`: no set of principals per address.
        "WITH pairs AS (
           SELECT sourceipaddress, principal(useridentity) AS principal,
                  min(eventtime) AS first_seen,
                  max(eventtime) AS last_seen,
                  count(*) AS events,
                  sum(CASE WHEN errorcode IS NULL THEN 0 ELSE 1 END) AS errors
           FROM cloudtrail
           GROUP BY sourceipaddress, principal(useridentity)
         )
         SELECT sourceipaddress,
                is_private_ip(sourceipaddress) AS private,
                min(first_seen) AS first_seen,
                max(last_seen) AS last_seen,
                sum(events) AS events,
                count(principal) AS principals,
                sum(errors) AS errors
         FROM pairs
         GROUP BY sourceipaddress",
    ),
];
