//! CloudTrail Lake's SQL over the lake: its event data store id as the table, its camelCase
//! columns, `element_at` on the JSON columns and on arrays. The sample queries are from
//! AWS's CloudTrail User Guide (awsdocs/aws-cloudtrail-user-guide at d5b03544,
//! doc_source/query-*.md; the code samples are MIT-0), the event data store id and dates
//! filled in as a user would: each is checked against the same question in our SQL.

use arrow::util::display::{ArrayFormatter, FormatOptions};
use query::LakeSession;

use crate::fixture::{fixture, session};

const STORE: &str = "5e2676f8-9fce-46ef-8142-3e36a94e6691";

/// The rows as sorted lines of text, values only (the column names differ).
async fn rows(s: &LakeSession, sql: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for b in s.sql(sql).await.unwrap() {
        let options = FormatOptions::default().with_null("NULL");
        let cols: Vec<ArrayFormatter> =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        for i in 0..b.num_rows() {
            lines.push(cols.iter().map(|c| c.value(i).to_string()).collect::<Vec<_>>().join(" | "));
        }
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn cloudtrail_lake_sample_queries_run_unchanged_and_agree_with_our_sql() {
    let s = session(fixture()).await;
    let pairs = [
        // "Find the number of API calls ... grouped by eventName and eventSource".
        (
            format!(
                "SELECT \n    eventSource, \n    eventName, \n    COUNT(*) AS apiCount\nFROM \n    {STORE}\nWHERE \n    \
                 eventTime > '2026-11-02 12:00:00' \nGROUP BY \n    eventSource, eventName \nORDER BY \n    apiCount DESC"
            ),
            "SELECT eventsource, eventname, count(*) FROM cloudtrail \
             WHERE eventtime > TIMESTAMP '2026-11-02T12:00:00Z' GROUP BY 1, 2"
                .to_string(),
        ),
        // "Find all principal user identities who called CreateBucket ..." (an API of the
        // generated corpus instead of CreateBucket).
        (
            format!(
                "SELECT \n    userIdentity.principalid, \n    eventName \nFROM \n    {STORE}\nWHERE \n    \
                 userIdentity.principalid IS NOT NULL \nAND \n    eventTime > '2026-11-02 00:00:00' \nAND \n    \
                 eventTime < '2026-11-03 00:00:00' \nAND \n    eventName='AssumeRole'"
            ),
            "SELECT useridentity.principalid, eventname FROM cloudtrail WHERE useridentity.principalid IS NOT NULL \
             AND eventdate = DATE '2026-11-02' AND eventname = 'AssumeRole'"
                .to_string(),
        ),
        // "Find all users who signed in to the console in a set of Regions".
        (
            format!(
                "SELECT \n    eventTime, \n    useridentity.arn, \n    awsRegion\nFROM \n    {STORE}\nWHERE \n    \
                 awsRegion in ('us-east-1', 'us-west-2') \nAND\n    eventName = 'ConsoleLogin'"
            ),
            "SELECT eventtime, useridentity.arn, awsregion FROM cloudtrail \
             WHERE (awsregion = 'us-east-1' OR awsregion = 'us-west-2') AND eventname = 'ConsoleLogin'"
                .to_string(),
        ),
    ];
    for (lake_sql, ours) in pairs {
        let (got, want) = (rows(&s, &lake_sql).await, rows(&s, &ours).await);
        assert!(!want.is_empty(), "the fixture should answer {ours}");
        assert_eq!(got, want, "{lake_sql}");
    }
}

#[tokio::test]
async fn element_at_reads_a_json_columns_key_as_text_and_an_arrays_element() {
    let s = session(fixture()).await;
    // On the JSON columns: the value at a key, a string unquoted; NULL when missing.
    let lake = format!(
        "SELECT eventid, element_at(requestParameters, 'roleArn'), element_at(requestParameters, 'noSuchKey') \
         FROM {STORE} WHERE eventName = 'AssumeRole'"
    );
    let ours = "SELECT eventid, json_get_str(requestparameters, 'roleArn'), CAST(NULL AS VARCHAR) \
                FROM cloudtrail WHERE eventname = 'AssumeRole'";
    let got = rows(&s, &lake).await;
    assert!(!got.is_empty());
    assert!(got.iter().all(|l| l.contains("arn:aws:iam::")), "{got:?}");
    assert_eq!(got, rows(&s, ours).await);
    // On an array: 1-based, and negative from the end.
    let lake = "SELECT eventid, element_at(resources, 1).arn, element_at(resources, -1).arn FROM cloudtrail \
                WHERE resources IS NOT NULL AND array_length(resources) > 0";
    let ours = "SELECT eventid, resources[1].arn, resources[CAST(array_length(resources) AS BIGINT)].arn FROM cloudtrail \
                WHERE resources IS NOT NULL AND array_length(resources) > 0";
    let got = rows(&s, lake).await;
    assert!(!got.is_empty());
    assert_eq!(got, rows(&s, ours).await);
    // Anything else is refused, naming what it takes.
    let err = s.sql("SELECT element_at(eventtime, 1) FROM cloudtrail").await.unwrap_err().to_string();
    assert!(err.contains("element_at(container, key) takes JSON text"), "{err}");
}
