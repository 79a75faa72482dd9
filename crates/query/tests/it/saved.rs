//! The named queries shipped in `queries/` parse and run on a lake.

use std::path::Path;

use crate::fixture::{fixture, session};

#[tokio::test]
async fn the_named_queries_shipped_in_the_repository_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queries");
    let folder = query::saved::load(&dir).unwrap();
    assert!(folder.problems.is_empty(), "{:?}", folder.problems);
    assert!(folder.queries.len() >= 4);
    let sess = session(fixture()).await;
    for q in &folder.queries {
        assert!(!q.description.is_empty(), "{} says what it answers", q.name);
        // Required parameters get a value; the rest their defaults.
        let given: Vec<(String, String)> =
            q.params.iter().filter(|p| p.default.is_none()).map(|p| (p.name.clone(), "AKIAEXAMPLE".into())).collect();
        let sql = q.bind(&given).unwrap();
        sess.sql(&sql).await.unwrap_or_else(|e| panic!("{}: {e}\n{sql}", q.name));
    }
    // A window that holds the whole fixture finds every principal new.
    let new = folder.queries.iter().find(|q| q.name == "new-principals").unwrap();
    let all = sess.sql(&new.bind(&[("within".into(), "3650d".into())]).unwrap()).await.unwrap();
    let actors = sess.sql("SELECT * FROM actors").await.unwrap();
    let rows = |b: &[arrow::array::RecordBatch]| b.iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(rows(&all), rows(&actors));
}
