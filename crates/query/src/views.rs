//! Views for the first questions of an investigation (who, where, how they got in), and
//! `cloudtrail_logs`, the name most Athena tutorials give the CloudTrail table, so their
//! queries run with no edit at all.

/// `(name, description, SQL)` of every view registered in a session.
pub const VIEWS: &[(&str, &str, &str)] = &[
    ("cloudtrail_logs", "the cloudtrail table under the name Athena tutorials use", "SELECT * FROM cloudtrail"),
    (
        "actors",
        "who: one row per principal with first/last seen, accounts, IPs, regions, events, error rate",
        "SELECT principal(useridentity) AS principal,
                min(useridentity.type) AS identity_type,
                min(eventtime) AS first_seen,
                max(eventtime) AS last_seen,
                count(*) AS events,
                count(DISTINCT eventname) AS distinct_actions,
                array_agg(DISTINCT recipientaccountid) AS accounts,
                array_agg(DISTINCT sourceipaddress) AS source_ips,
                array_agg(DISTINCT awsregion) AS regions,
                round(avg(CASE WHEN errorcode IS NULL THEN 0.0 ELSE 1.0 END), 4) AS error_rate
         FROM cloudtrail
         GROUP BY 1",
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
        "SELECT sourceipaddress,
                is_private_ip(sourceipaddress) AS private,
                min(eventtime) AS first_seen,
                max(eventtime) AS last_seen,
                count(*) AS events,
                count(DISTINCT principal(useridentity)) AS principals,
                sum(CASE WHEN errorcode IS NULL THEN 0 ELSE 1 END) AS errors
         FROM cloudtrail
         GROUP BY sourceipaddress",
    ),
];
