//! Queries under a memory limit: what can spill spills and answers the same; what cannot
//! fails with a message that names the limit and how to raise it.

use crate::fixture::fixture;
use lake::LakeOptions;
use query::output::Format;
use query::{LakeSession, MemoryLimit, QueryError};

async fn session_within(limit: MemoryLimit) -> LakeSession {
    let ctx = query::new_context_within(limit).unwrap();
    LakeSession::open_in(ctx, &fixture().lake.display().to_string(), &LakeOptions::default()).await.unwrap()
}

/// A session under `limit` whose batches are 256 rows: the fixture's 6,000 events are then
/// many batches, as a big lake's are at the default 8,192 rows, so a few MiB is small.
async fn small_batches_within(limit: MemoryLimit) -> LakeSession {
    let ctx = query::context_with(query::lake_config().with_batch_size(256), limit.runtime().unwrap()).unwrap();
    LakeSession::open_in(ctx, &fixture().lake.display().to_string(), &LakeOptions::default()).await.unwrap()
}

/// The statement's CSV output and what it read (spilled bytes included).
async fn csv(session: &LakeSession, sql: &str) -> (String, query::run::ReadStats) {
    let mut out = vec![];
    let outcomes = query::run::run_script(session, sql, Format::Csv, &mut out).await.unwrap();
    (String::from_utf8(out).unwrap(), outcomes[0].read.clone())
}

#[tokio::test]
async fn a_query_past_the_memory_limit_that_cannot_spill_fails_naming_the_limit() {
    let session = session_within(MemoryLimit(256 * 1024)).await;
    // One group collecting every request's parameters: nothing to spill.
    let e = session.sql("SELECT array_agg(requestparameters) FROM cloudtrail").await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, QueryError::MemoryLimit { .. }), "{e:?}");
    assert!(text.contains("the memory limit of 256.0 KiB") && text.contains("--memory-limit"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
async fn sorts_and_aggregations_past_the_memory_limit_spill_and_answer_the_same() {
    let sql = "SELECT eventid, eventname, requestparameters, responseelements FROM cloudtrail ORDER BY eventid";
    let (want, unlimited) = csv(&session_within(MemoryLimit(1 << 30)).await, sql).await;
    assert_eq!(unlimited.spilled_bytes, 0);
    let (got, limited) = csv(&small_batches_within(MemoryLimit(2 << 20)).await, sql).await;
    assert!(limited.spilled_bytes > 0, "the sort spilled under 2 MiB: {limited:?}");
    assert_eq!(got.lines().count(), fixture().events.len() + 1);
    assert!(got == want, "the spilled sort answers the same");
}

#[tokio::test]
async fn every_view_answers_within_a_small_memory_limit() {
    let small = small_batches_within(MemoryLimit(4 << 20)).await;
    let big = session_within(MemoryLimit(1 << 30)).await;
    for (view, _, _) in query::views::VIEWS.iter() {
        // Rows compared as sorted lines (a sort of its own would measure the sort).
        let sql = format!("SELECT * FROM {view}");
        let sorted = |text: String| {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.sort();
            lines
        };
        let got = sorted(csv(&small, &sql).await.0);
        let want = sorted(csv(&big, &sql).await.0);
        assert!(got == want, "{view} under 4 MiB answers as without a limit");
        assert!(got.len() > 1, "{view} has rows");
    }
}

#[tokio::test]
async fn actors_fits_where_a_set_of_raw_values_per_principal_did_not() {
    // The view before issue 34: DISTINCT aggregates, a set of raw values per principal.
    let before = "SELECT principal(useridentity) AS principal, min(useridentity.type) AS identity_type, \
        min(eventtime) AS first_seen, max(eventtime) AS last_seen, count(*) AS events, \
        count(DISTINCT eventname) AS distinct_actions, array_agg(DISTINCT recipientaccountid) AS accounts, \
        array_agg(DISTINCT sourceipaddress) AS source_ips, array_agg(DISTINCT awsregion) AS regions, \
        round(avg(CASE WHEN errorcode IS NULL THEN 0.0 ELSE 1.0 END), 4) AS error_rate FROM cloudtrail GROUP BY 1";
    let session = small_batches_within(MemoryLimit(4 << 20)).await;
    let e = session.sql(before).await.unwrap_err();
    assert!(matches!(e, QueryError::MemoryLimit { .. }), "{e}");
    let now = session.sql("SELECT * FROM actors").await.unwrap();
    assert!(now.iter().map(|b| b.num_rows()).sum::<usize>() > 1);
    // And they agree, without a limit, on what each principal did.
    let big = session_within(MemoryLimit(1 << 30)).await;
    let summary = "SELECT principal, identity_type, first_seen, last_seen, events, distinct_actions, \
        array_sort(accounts) AS accounts, array_sort(source_ips) AS source_ips, array_sort(regions) AS regions, error_rate";
    let (old, _) = csv(&big, &format!("{summary} FROM ({before}) ORDER BY principal")).await;
    let (new, _) = csv(&big, &format!("{summary} FROM actors ORDER BY principal")).await;
    assert!(old == new, "the rewritten view answers as the old one");
}
