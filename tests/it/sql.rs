//! `trailhouse sql` and `trailhouse export` as a user runs them: formats, files, pipes,
//! the prompt, and errors.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use test_support::trailhouse;

fn run_ok(c: &mut Command) -> (String, String) {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{:?} failed:\n{}", c, String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

struct Lake {
    _dir: tempfile::TempDir,
    lake: PathBuf,
    events: u64,
}

/// A lake of 4,000 generated events over 2 days, built once for this file's tests.
fn lake() -> &'static Lake {
    static L: OnceLock<Lake> = OnceLock::new();
    L.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let lake = dir.path().join("lake");
        let (g, _) =
            run_ok(trailhouse().args(["generate", "--json", "--events", "4000", "--days", "2", "--out"]).arg(&logs));
        let g: serde_json::Value = serde_json::from_str(g.trim()).unwrap();
        run_ok(trailhouse().args(["ingest", "--json", "--source"]).arg(&logs).arg("--lake").arg(&lake));
        Lake { _dir: dir, lake, events: g["events"].as_u64().unwrap() }
    })
}

/// Runs `c --interactive` with `input` typed on its stdin; its output once it ends.
fn prompt(c: &mut Command, input: &[u8]) -> std::process::Output {
    let mut child =
        c.arg("--interactive").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn sql(lake: &Path) -> Command {
    let mut c = trailhouse();
    c.arg("sql").arg("--lake").arg(lake);
    c
}

#[test]
fn piped_output_is_ndjson_and_head_stops_the_query_cleanly() {
    let l = lake();
    let (out, _) = run_ok(sql(&l.lake).arg("SELECT count(*) AS n FROM cloudtrail"));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["n"].as_u64(), Some(l.events));

    // `... | head -1`: read one line, close the pipe; the process must end by itself,
    // successfully and without an error message.
    let mut child = sql(&l.lake)
        .arg("SELECT * FROM cloudtrail CROSS JOIN (SELECT 1 FROM cloudtrail LIMIT 50) AS x")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&first).unwrap()["eventid"].is_string());
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status =
        rx.recv_timeout(Duration::from_secs(60)).expect("sql kept running after its reader went away").unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn a_file_of_statements_runs_in_order_and_csv_and_parquet_go_to_files() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("q.sql");
    std::fs::write(
        &script,
        "-- a view, then a query over it\nCREATE VIEW iam AS SELECT * FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com';\nSELECT eventname, count(*) AS n FROM iam GROUP BY eventname ORDER BY eventname;\n",
    )
    .unwrap();
    let csv = dir.path().join("out.csv");
    let (_, err) = run_ok(sql(&l.lake).arg("-f").arg(&script).args(["--format", "csv", "--output"]).arg(&csv));
    assert!(err.contains("Wrote"), "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("eventname,n"));
    let total: u64 = lines.map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap()).sum();
    let (n, _) =
        run_ok(sql(&l.lake).arg("SELECT count(*) AS n FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com'"));
    let n: serde_json::Value = serde_json::from_str(n.trim()).unwrap();
    assert_eq!(Some(total), n["n"].as_u64());
    assert!(total > 0);

    let pq = dir.path().join("out.parquet");
    run_ok(
        sql(&l.lake)
            .arg("SELECT eventid, eventtime FROM cloudtrail")
            .args(["--format", "parquet", "--output"])
            .arg(&pq),
    );
    let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&pq).unwrap()).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows() as u64, l.events);
}

#[test]
fn the_prompt_lists_describes_times_and_runs_multiline_statements() {
    let l = lake();
    let out = prompt(
        &mut sql(&l.lake),
        b"\\d\n\\d cloudtrail\n\\timing on\nSELECT count(*) AS n\n  FROM cloudtrail;\nSELECT nosuchcolumn FROM cloudtrail;\n\\x on\nSELECT eventname, useridentity.type FROM cloudtrail LIMIT 2;\n\\q\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("ingested_files") && stdout.contains("actors"), "\\d lists tables and views:\n{stdout}");
    assert!(
        stdout.contains("useridentity.sessioncontext.sessionissuer.arn") && stdout.contains("timestamp (UTC)"),
        "{stdout}"
    );
    assert!(stdout.contains(&l.events.to_string()), "{stdout}");
    assert!(stdout.contains("rows in") && stdout.contains(" files ("), "the line under a result: {stdout}");
    assert!(stdout.contains("-[ RECORD 2 ]") && stdout.contains("\ntype      | "), "\\x on: {stdout}");
    assert!(stderr.contains("unknown column nosuchcolumn"), "errors do not end the prompt: {stderr}");
}

#[test]
fn export_writes_partitioned_parquet_and_reports_json() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("export");
    let (out, _) = run_ok(trailhouse().args(["export", "--json", "--lake"]).arg(&l.lake).arg("--to").arg(&to).args([
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-03",
    ]));
    let s: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let (n, _) = run_ok(sql(&l.lake).arg("SELECT count(*) AS n FROM cloudtrail WHERE eventdate = DATE '2026-11-02'"));
    let n: serde_json::Value = serde_json::from_str(n.trim()).unwrap();
    assert_eq!(s["rows"], n["n"]);
    assert!(to.join("eventdate=2026-11-02").is_dir());
    assert!(!to.join("eventdate=2026-11-03").exists());
}

#[test]
fn bad_queries_and_empty_lakes_get_one_actionable_line() {
    let l = lake();
    let out = sql(&l.lake).arg("SELECT evntname FROM cloudtrail").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean eventname"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let lake = dir.path().join("lake");
    run_ok(trailhouse().args(["ingest", "--allow-empty", "--source"]).arg(&empty).arg("--lake").arg(&lake));
    let (_, err) = run_ok(sql(&lake).arg("SELECT count(*) FROM cloudtrail"));
    assert!(err.contains("holds no events") && err.contains("trailhouse demo"), "{err}");
    let out = sql(&dir.path().join("nowhere")).arg("SELECT 1").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lake here"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_and_export_work_on_s3_with_the_real_client() {
    let l = lake();
    let aws =
        ingest::aws::AwsOptions { endpoint_url: Some(test_support::endpoint()), region: Some("us-east-1".into()) };
    let s3 = aws.s3_client().await;
    let bucket = format!("lake-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    // A lake on S3: ingest the shared datasets there, then query it.
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let s3_lake = format!("s3://{bucket}/lake");
    run_ok(
        trailhouse()
            .args(["ingest", "--json", "--endpoint-url", &test_support::endpoint(), "--lake", &s3_lake, "--source"])
            .arg(&datasets),
    );
    // The S3 lake's endpoint from AWS_ENDPOINT_URL_S3 alone (the SDK's service-specific
    // variable), as an operator pointing every S3 client at a VPC endpoint would set it.
    let (out, _) = run_ok(
        trailhouse()
            .env("AWS_ENDPOINT_URL_S3", test_support::endpoint())
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("TRAILHOUSE_ENDPOINT_URL")
            .args(["sql", "--lake", &s3_lake, "SELECT count(*) AS n FROM cloudtrail"]),
    );
    let n: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(n["n"].as_u64(), Some(2_900 + 21));

    // Export the local lake to an S3 prefix.
    let (out, _) = run_ok(
        trailhouse()
            .args([
                "export",
                "--json",
                "--endpoint-url",
                &test_support::endpoint(),
                "--to",
                &format!("s3://{bucket}/export"),
                "--lake",
            ])
            .arg(&l.lake),
    );
    let s: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["rows"].as_u64(), Some(l.events));
    let listed = s3.list_objects_v2().bucket(&bucket).prefix("export/").send().await.unwrap();
    let keys: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(String::from)).collect();
    assert!(keys.iter().any(|k| k.starts_with("export/eventdate=2026-11-02/") && k.ends_with(".parquet")), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("export/eventdate=2026-11-03/")), "{keys:?}");
    // Beside the Parquet files, the export's manifest (`_trailhouse_export.json`).
    assert!(keys.contains(&"export/_trailhouse_export.json".to_string()), "{keys:?}");
    let parquet = keys.iter().find(|k| k.ends_with(".parquet")).unwrap();
    let first = s3.get_object().bucket(&bucket).key(parquet).send().await.unwrap();
    let body = first.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..4], b"PAR1");
}

/// Drives `trailhouse sql` at a pseudo-terminal, as a person at the prompt: Ctrl-C is the
/// terminal's (a byte 3 the line discipline turns into SIGINT while a statement runs, a key
/// while a line is read). Each step waits for the answer it expects, up to a minute.
const PROMPT_DRIVER: &str = r#"
import os, pty, select, sys, termios, time
binary, lake = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.environ["NO_COLOR"] = "1"
    os.execv(binary, [binary, "sql", "--lake", lake])
seen = b""
def expect(want):
    global seen
    deadline = time.monotonic() + 60
    while want not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit(f"no {want!r} within a minute; the terminal showed: {seen[-3000:]!r}")
        if select.select([fd], [], [], left)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                sys.exit(f"the prompt ended before {want!r}; the terminal showed: {seen[-3000:]!r}")
            seen += data
    seen = seen[seen.index(want) + len(want):]
def cooked():
    # Wait until the statement runs: the line editor has given the terminal back.
    deadline = time.monotonic() + 60
    while not termios.tcgetattr(fd)[3] & termios.ICANON:
        if time.monotonic() > deadline:
            sys.exit("the terminal never left raw mode")
        time.sleep(0.01)
expect(b"trailhouse> ")
os.write(fd, b"SELECT sum(value % 7) FROM range(1, 1000000000000000);\r")
cooked()
os.write(fd, b"\x03")
expect(b"Cancelled.")
expect(b"trailhouse> ")
os.write(fd, b"SELECT 41 + 1 AS answer;\r")
expect(b"42")
expect(b"trailhouse> ")
os.write(fd, b"\x03")
expect(b"trailhouse> ")
os.write(fd, b"\x03")
expect(b"\\q or Ctrl-D leaves")
os.write(fd, b"\\q\r")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[test]
fn ctrl_c_cancels_the_running_statement_and_the_prompt_answers_on() {
    let l = lake();
    let out = Command::new(test_support::python())
        .args(["-c", PROMPT_DRIVER])
        .arg(trailhouse().get_program())
        .arg(&l.lake)
        .env("HOME", l._dir.path())
        .env("XDG_STATE_HOME", l._dir.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn ctrl_c_cancels_a_one_shot_statement_and_exits_130() {
    let l = lake();
    let mut child = sql(&l.lake)
        .arg("--verbose")
        .arg("SELECT sum(value % 7) FROM range(1, 1000000000000000)")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it says the statements run, Ctrl-C is its to handle.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("Ctrl-C cancels") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "it ended first:\n{said}");
        said.push_str(&line);
    }
    let int = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(int.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{said}{rest}");
    assert!(rest.contains("Cancelled."), "{said}{rest}");
}

#[test]
fn named_queries_are_listed_and_run_by_name_with_parameters() {
    let l = lake();
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    std::fs::write(
        queries.join("top-calls.sql"),
        "-- The most frequent calls to one service.\n-- param top = 3\n\
         SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventsource = ${service}\n\
         GROUP BY 1 ORDER BY n DESC, eventname LIMIT ${top};\n",
    )
    .unwrap();
    std::fs::write(queries.join("broken.sql"), "-- param x\nSELECT 1").unwrap();
    std::fs::write(queries.join("notes.txt"), "not a query").unwrap();
    let state = dir.path().join("state");
    let out = prompt(
        sql(&l.lake).arg("--queries").arg(&queries).env("XDG_STATE_HOME", &state),
        b"\\saved\n\\stats off\n\\format csv\n\\run top-calls service=iam.amazonaws.com top=2\n\\run top-calls\n\
          \\run nosuch\n\\run top-calls service=iam.amazonaws.com tpo=1\n\\saved top-calls\n\\q\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let listing = stdout.lines().find(|l| l.trim_start().starts_with("top-calls")).unwrap_or_default();
    assert!(
        listing.contains("service=?") && listing.contains("top=3") && listing.contains("most frequent calls"),
        "\\saved lists name, parameters, description: {stdout}"
    );
    assert!(!stdout.contains("notes"), "only .sql files: {stdout}");
    assert!(stderr.contains("broken.sql") && stderr.contains("needs a default"), "a bad file is named: {stderr}");
    let (want, _) = run_ok(sql(&l.lake).args([
        "--format",
        "csv",
        "SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' \
         GROUP BY 1 ORDER BY n DESC, eventname LIMIT 2",
    ]));
    assert_eq!(want.lines().count(), 3, "the lake has IAM calls: {want}");
    assert!(stdout.contains(&want), "\\run with parameters answers as the SQL it stands for:\n{want}\nin\n{stdout}");
    assert!(stderr.contains("top-calls needs service=VALUE"), "{stderr}");
    assert!(stderr.contains("no saved query nosuch; there are: top-calls"), "{stderr}");
    assert!(stderr.contains("no parameter tpo"), "{stderr}");
    assert!(stdout.contains("WHERE eventsource = ${service}"), "\\saved NAME prints its text: {stdout}");
    let history = std::fs::read_to_string(state.join("trailhouse").join("history")).unwrap();
    assert!(history.contains("\\run top-calls service=iam.amazonaws.com top=2"), "history in XDG_STATE_HOME");
}

#[test]
fn a_query_past_the_memory_limit_fails_naming_the_limit_and_how_to_raise_it() {
    let l = lake();
    let q = "SELECT array_agg(requestparameters) AS all_parameters FROM cloudtrail";
    let out = sql(&l.lake).args(["--memory-limit", "256KiB", q]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory limit of 256.0 KiB") && err.contains("raise the limit with --memory-limit"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // The same query under the default limit answers.
    run_ok(sql(&l.lake).arg(q));
    let out = sql(&l.lake).env("TRAILHOUSE_MEMORY_LIMIT", "lots").arg("SELECT 1").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a memory size: `lots`"));
}
