//! The lake the query tests share: generated logs (2 days, 3 accounts, planted
//! scenarios) ingested once per test binary, and the source events read back with
//! serde_json as the independent truth.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ingest::aws::AwsOptions;
use ingest::backfill::{BackfillOptions, backfill};
use ingest::source::Source;
use lake::{Lake, LakeOptions};
use sample_logs::{GenerateOptions, generate};
use serde_json::Value;

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub lake: PathBuf,
    /// Every source event, parsed by serde_json.
    pub events: Vec<Value>,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // Built on its own thread and runtime: tests call this from inside theirs.
        std::thread::spawn(build).join().expect("building the fixture lake")
    })
}

fn build() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let lake = dir.path().join("lake");
    let opts =
        GenerateOptions { out: logs.clone(), events: 6_000, accounts: 3, days: 2, seed: 7, ..Default::default() };
    generate(&opts).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let l = Lake::open_or_create(&lake.display().to_string(), &LakeOptions::default()).await.unwrap();
        let src = Source::parse(&logs.display().to_string(), &AwsOptions::default()).await.unwrap();
        let o = BackfillOptions { lanes: 2, batch_rows: 1000, ..Default::default() };
        let s = backfill(&l, &src, &o).await.unwrap();
        assert!(s.quarantined.is_empty());
    });
    let events = test_support::source_events(&logs).into_values().flatten().collect();
    Fixture { _dir: dir, lake, events }
}

pub async fn session(f: &Fixture) -> query::LakeSession {
    query::LakeSession::open(&f.lake.display().to_string(), &LakeOptions::default()).await.unwrap()
}

/// Runs `scripts/independent_reader.py` (the Python `deltalake` package and DuckDB, in the
/// venv scripts/test.sh makes) over the lake and an export folder; its JSON report.
pub fn independent_reader(lake: &Path, export: &Path) -> Value {
    let python = test_support::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/independent_reader.py");
    let out = std::process::Command::new(python).arg(script).arg(lake.join("cloudtrail")).arg(export).output().unwrap();
    assert!(out.status.success(), "independent reader failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
