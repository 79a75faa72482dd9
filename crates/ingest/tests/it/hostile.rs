//! Hostile input through the whole backfill path: every class of bad file gets a clear
//! error naming the file and is quarantined; every readable event, odd as it may be, is
//! kept; nothing panics and nothing else is lost.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::quiet;
use ingest::backfill::{BackfillOptions, backfill};
use ingest::source::Source;
use lake::{CLOUDTRAIL_TABLE, Lake, LakeOptions, read_table};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn event(id: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"2026-11-02T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","eventID":"{id}","recipientAccountId":"111122223333"{extra}}}"#
    )
}

fn records(events: &[String]) -> Vec<u8> {
    format!(r#"{{"Records":[{}]}}"#, events.join(",")).into_bytes()
}

/// Events that are odd but readable: all must be kept.
fn odd_events() -> Vec<String> {
    let deep = 5_000;
    vec![
        event("ok", ""),
        // wrong types in every typed column
        r#"{"eventID":"types","eventTime":1762077600,"readOnly":"true","managementEvent":1,"userIdentity":"arn:aws:iam::1:root","resources":{"ARN":"x"},"tlsDetails":"TLSv1.3","eventName":["a"],"awsRegion":{"r":1}}"#.to_string(),
        // unknown fields at every level
        event("unknown", r#","newTop":{"a":[1]},"userIdentity":{"type":"IAMUser","newInIdentity":1,"sessionContext":{"newInContext":true,"attributes":{"newInAttributes":"x"},"sessionIssuer":{"newInIssuer":[]}}},"resources":[{"ARN":"a","newInResource":2}],"tlsDetails":{"newInTls":3}"#),
        // a 2 MB string
        event("long", &format!(r#","userAgent":"{}""#, "A".repeat(2 << 20))),
        // 5,000 levels of nesting
        event("deep", &format!(r#","requestParameters":{}1{}"#, "[".repeat(deep), "]".repeat(deep))),
        // duplicate keys
        event("dupes", r#","eventName":"CreateUser","eventName":"DeleteUser""#),
        // huge and odd numbers
        event("numbers", r#","requestParameters":{"big":123456789012345678901234567890,"exp":1e308,"neg":-0.0,"small":5e-324}"#),
        // not objects
        "42".to_string(),
        "null".to_string(),
    ]
}

/// (file name, raw bytes, expected: Ok(events kept) or Err(text the error must contain)).
fn corpus() -> Vec<(&'static str, Vec<u8>, Result<u64, &'static str>)> {
    let good = gzip(&records(&[event("good-1", ""), event("good-2", "")]));
    let odd_events = odd_events();
    let odd_count = odd_events.len() as u64;
    vec![
        ("good.json.gz", good.clone(), Ok(2)),
        ("odd-events.json.gz", gzip(&records(&odd_events)), Ok(odd_count)),
        ("bom.json.gz", gzip(&[b"\xEF\xBB\xBF".as_slice(), &records(&[event("bom", "")])].concat()), Ok(1)),
        ("plain.json", records(&[event("plain", "")]), Ok(1)),
        ("truncated.json.gz", good[..good.len() - 12].to_vec(), Err("gzip data is corrupt or truncated")),
        ("not-gzip.json.gz", b"PK\x03\x04 a zip, not a gzip".to_vec(), Err("not valid JSON")),
        ("empty.json.gz", vec![], Err("empty")),
        ("bomb.json.gz", gzip(&vec![b' '; 8 << 20]), Err("gzip bomb")),
        ("invalid-utf8.json.gz", gzip(b"{\"Records\":[{\"eventID\":\"\xff\xfe\"}]}"), Err("not valid JSON")),
        ("top-level-array.json.gz", gzip(b"[{\"eventID\":\"x\"}]"), Err("not an object with a \"Records\" array")),
        ("no-records.json.gz", gzip(br#"{"records":[]}"#), Err("not an object with a \"Records\" array")),
        (
            "records-not-array.json.gz",
            gzip(br#"{"Records":{"eventID":"x"}}"#),
            Err("not an object with a \"Records\" array"),
        ),
        (
            "too-deep.json.gz",
            gzip(&records(&[event(
                "too-deep",
                &format!(r#","requestParameters":{}1{}"#, "[".repeat(50_000), "]".repeat(50_000)),
            )])),
            Err("nested deeper than 10000 levels"),
        ),
        ("truncated-json.json.gz", gzip(br#"{"Records":[{"eventID":"x"}"#), Err("not valid JSON")),
    ]
}

fn write_corpus(root: &Path) -> Vec<(&'static str, Vec<u8>, Result<u64, &'static str>)> {
    let dir = root.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02");
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = corpus();
    for (name, raw, _) in &corpus {
        std::fs::write(dir.join(name), raw).unwrap();
    }
    corpus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_of_bad_input_is_quarantined_by_name_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let corpus = write_corpus(&src);
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open_or_create(lake_dir.to_str().unwrap(), &LakeOptions::default()).await.unwrap();
    let source = Source::parse(src.to_str().unwrap(), &Default::default()).await.unwrap();
    // A 4 MiB cap on the inflated size: the 8 MiB bomb trips it, the 2 MB string does not.
    let opts = BackfillOptions { max_inflated: 4 << 20, ..quiet() };
    let s = backfill(&lake, &source, &opts).await.unwrap();

    let quarantined: HashMap<String, String> =
        s.quarantined.iter().map(|q| (q.source.rsplit('/').next().unwrap().to_string(), q.error.clone())).collect();
    let mut want_events = 0;
    for (name, raw, expect) in &corpus {
        match expect {
            Ok(n) => {
                want_events += n;
                assert!(!quarantined.contains_key(*name), "{name} was quarantined: {:?}", quarantined.get(*name));
            }
            Err(text) => {
                let err = quarantined
                    .get(*name)
                    .unwrap_or_else(|| panic!("{name} was not quarantined; quarantined: {quarantined:?}"));
                assert!(err.contains(text), "{name}: {err:?} does not say {text:?}");
                // The original bytes and the error, side by side in the quarantine.
                let q = lake_dir.join("quarantine/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02").join(name);
                assert_eq!(&std::fs::read(&q).unwrap(), raw, "{name}");
                let e: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(q.with_file_name(format!("{name}.error.json"))).unwrap())
                        .unwrap();
                assert!(e["error"].as_str().unwrap().contains(text), "{e}");
            }
        }
    }
    assert_eq!(s.files_quarantined as usize, corpus.iter().filter(|c| c.2.is_err()).count());
    assert_eq!(s.events, want_events);
    assert_eq!(s.records_not_objects, 2);

    // Every kept event is in the lake, readable, with the odd ones' values kept.
    let t = lake.table(CLOUDTRAIL_TABLE).await.unwrap();
    let b = read_table(&t, "SELECT eventid, eventname, length(useragent) AS ua, length(requestparameters) AS rp, readonly FROM t WHERE eventid IS NOT NULL ORDER BY eventid").await.unwrap();
    let batch = arrow::compute::concat_batches(&b[0].schema(), &b).unwrap();
    let ids = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    let ids: Vec<&str> =
        ids.as_any().downcast_ref::<arrow::array::StringArray>().unwrap().iter().map(|v| v.unwrap()).collect();
    assert_eq!(ids, ["bom", "deep", "dupes", "good-1", "good-2", "long", "numbers", "ok", "plain", "types", "unknown"]);
    let row = |id: &str| ids.iter().position(|i| *i == id).unwrap();
    let ua = arrow::compute::cast(batch.column(2), &arrow::datatypes::DataType::Int64).unwrap();
    let ua = ua.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
    assert_eq!(ua.value(row("long")), 2 << 20, "the long string is kept whole");
    let rp = arrow::compute::cast(batch.column(3), &arrow::datatypes::DataType::Int64).unwrap();
    let rp = rp.as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
    assert_eq!(rp.value(row("deep")), 2 * 5_000 + 1, "the deep value is kept as JSON text");
    let ro = batch.column(4).as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap();
    assert!(ro.value(row("types")), "readOnly \"true\" is read as true");

    // Rebuilt from the lake, the events of the odd file equal their sources (duplicate keys
    // and the 5,000-level value aside: serde_json cannot hold those).
    let rebuilt =
        read_table(&t, "SELECT * FROM t WHERE eventid IN ('types', 'unknown', 'numbers', 'long')").await.unwrap();
    let mut n = 0;
    for b in &rebuilt {
        for e in ingest::rebuild::rebuild_events(b).unwrap() {
            let id = e["eventID"].as_str().unwrap().to_string();
            let orig = odd_events().into_iter().find(|t| t.contains(&format!(r#""eventID":"{id}""#))).unwrap();
            let orig: serde_json::Value = serde_json::from_str(&orig).unwrap();
            assert_eq!(e, orig, "{id}");
            n += 1;
        }
    }
    assert_eq!(n, 4);
}
