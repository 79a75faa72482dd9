//! The repository's own scripts: the test count check that `scripts/test.sh` runs.

use std::path::Path;

/// scripts/count-tests.sh, which scripts/test.sh runs over each whole run's output: a test
/// binary that ran nothing, or fewer passing tests than recorded, fails the run; more
/// raises the record.
#[test]
fn the_test_count_check_refuses_an_empty_binary_and_a_shrinking_suite() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("test-count");
    let check = |log: &str| {
        let path = dir.path().join("out.log");
        std::fs::write(&path, log).unwrap();
        std::process::Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/count-tests.sh"))
            .arg(&path)
            .env("TRAILHOUSE_TEST_COUNT_FILE", &record)
            .output()
            .unwrap()
    };
    let binary = |name: &str, n: usize| {
        format!(
            "     Running tests/{name}.rs (target/debug/deps/{name}-0)\n\nrunning {n} tests\n\ntest result: ok. {n} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n"
        )
    };
    std::fs::write(&record, "5\n").unwrap();
    let grown = check(&(binary("a", 3) + &binary("b", 4)));
    assert!(grown.status.success(), "{}", String::from_utf8_lossy(&grown.stderr));
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), "7", "the record rises with the suite");
    let shrunk = check(&binary("a", 3));
    assert!(!shrunk.status.success());
    assert!(String::from_utf8_lossy(&shrunk.stderr).contains("fewer than the 7 recorded"));
    let empty = check(&(binary("a", 3) + &binary("b", 4) + &binary("c", 0)));
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("tests/c.rs (target/debug/deps/c-0) ran no test"));
    // A crate without doc examples runs no doc test: not an empty binary.
    let docs = "   Doc-tests cluster\n\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
    assert!(check(&(binary("a", 3) + &binary("b", 4) + docs)).status.success());
    // Criterion's benchmarks in test mode print no libtest summary: not a binary to count.
    let bench = "     Running benches/stages.rs (target/debug/deps/stages-0)\nTesting stages/x\nSuccess\n";
    assert!(check(&(binary("a", 3) + &binary("b", 4) + bench)).status.success());
}
