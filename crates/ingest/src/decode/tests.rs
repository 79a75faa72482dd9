use super::*;
use crate::rebuild::rebuild_events;
use serde_json::{Value, json};

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn decode_one(raw: &[u8]) -> (Result<FileDecoded, DecodeError>, arrow::array::RecordBatch) {
    let mut dec = FileDecoder::default();
    let mut b = EventBatchBuilder::new(16);
    let r = dec.decode(raw, "test://file", &mut b);
    (r, b.finish())
}

fn assert_lossless(events: Vec<Value>) {
    let doc = json!({ "Records": events.clone() }).to_string();
    let (r, batch) = decode_one(&gzip(doc.as_bytes()));
    let decoded = r.unwrap();
    assert_eq!(decoded.counts.events as usize, events.len());
    let rebuilt = rebuild_events(&batch).unwrap();
    for (orig, back) in events.iter().zip(&rebuilt) {
        assert_eq!(orig, back, "\nunmapped: {:?}", batch.column_by_name("unmapped"));
    }
}

#[test]
fn typical_events_round_trip_exactly() {
    assert_lossless(vec![
        json!({"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::1:user/a","accountId":"1","accessKeyId":"AKIA","userName":"a",
            "sessionContext":{"attributes":{"creationDate":"2023-07-10T12:00:00Z","mfaAuthenticated":"false"},"sessionIssuer":{},"webIdFederationData":{}}},
            "eventTime":"2023-07-10T12:40:03Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"1.2.3.4",
            "userAgent":"aws-cli","requestParameters":{"bucketName":"b","key":"k","n":[1,2.5,{"x":null}]},"responseElements":null,"requestID":"R","eventID":"E",
            "readOnly":true,"resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"},{"accountId":"1","type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}],
            "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"1","eventCategory":"Data",
            "tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE","clientProvidedHostHeader":"b.s3.amazonaws.com"}}),
        json!({"eventVersion":"1.05","userIdentity":{"accountId":"1","invokedBy":"cloudtrail.amazonaws.com"},"eventTime":"2023-07-10T12:40:03Z",
            "eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"eu-west-1","sourceIPAddress":"cloudtrail.amazonaws.com","requestParameters":null,
            "additionalEventData":{"a":"b"},"serviceEventDetails":{"x":1},"eventType":"AwsServiceEvent","sharedEventID":"S"}),
    ]);
}

#[test]
fn odd_values_are_kept_and_rebuilt() {
    assert_lossless(vec![
        // wrong types in typed columns
        json!({"eventTime": 1688992803, "readOnly": "true", "managementEvent": "maybe", "eventName": 42, "errorCode": {"o": 1}}),
        json!({"userIdentity": "arn:aws:iam::1:root", "resources": {"ARN": "x"}, "tlsDetails": [1]}),
        json!({"resources": [1, null, {"ARN": "a", "extra": true}], "userIdentity": {"type": "Root", "newField": [1], "sessionContext": {"attributes": {"creationDate": "not a date", "z": 1}}}}),
        // unknown fields, explicit nulls, other time forms
        json!({"brandNewField": {"deep": [1, 2]}, "eventTime": "2023-07-10T12:40:03.123Z", "errorCode": null, "userIdentity": null}),
        json!({"eventTime": "2023-07-10T14:40:03+02:00", "a/b~c": 1, "": 2}),
        json!({}),
    ]);
}

#[test]
fn non_object_records_are_kept_and_counted() {
    let doc = r#"{"Records":[1,"x",{"eventTime":"2023-07-10T12:40:03Z"},null,[]]}"#;
    let (r, batch) = decode_one(doc.as_bytes());
    let c = r.unwrap().counts;
    assert_eq!((c.events, c.not_object, c.bad_time), (5, 4, 4));
    let rebuilt = rebuild_events(&batch).unwrap();
    assert_eq!(
        rebuilt,
        vec![json!(1), json!("x"), json!({"eventTime":"2023-07-10T12:40:03Z"}), Value::Null, json!([])]
    );
}

#[test]
fn event_date_is_the_utc_day_of_event_time() {
    let doc = r#"{"Records":[{"eventTime":"2023-07-10T23:59:59Z"},{"eventTime":"2023-07-11T00:00:00Z"},{"eventTime":"garbage"}]}"#;
    let (r, batch) = decode_one(doc.as_bytes());
    assert_eq!(r.unwrap().counts.bad_time, 1);
    let d = batch.column_by_name("eventdate").unwrap();
    let d = d.as_any().downcast_ref::<arrow::array::Date32Array>().unwrap();
    assert_eq!(d.value(1) - d.value(0), 1);
    assert!(d.is_null(2));
    use arrow::array::Array;
}

/// A broken input, and what its error must be.
type BrokenCase = (&'static str, Vec<u8>, fn(&DecodeError) -> bool);

#[test]
fn broken_files_are_errors_that_append_nothing() {
    let good = gzip(br#"{"Records":[{"eventName":"A"}]}"#);
    let cases: Vec<BrokenCase> = vec![
        ("truncated gzip", good[..good.len() - 10].to_vec(), |e| matches!(e, DecodeError::Gzip(_))),
        ("empty", vec![], |e| matches!(e, DecodeError::Empty)),
        ("not json", b"hello world".to_vec(), |e| matches!(e, DecodeError::Json { .. })),
        ("array top level", b"[1,2]".to_vec(), |e| matches!(e, DecodeError::NotCloudTrail(_))),
        ("no records", br#"{"records":[]}"#.to_vec(), |e| matches!(e, DecodeError::NotCloudTrail(_))),
        ("records not array", br#"{"Records":{}}"#.to_vec(), |e| matches!(e, DecodeError::NotCloudTrail(_))),
        ("truncated json", br#"{"Records":[{"a":1}"#.to_vec(), |e| matches!(e, DecodeError::Json { .. })),
        ("invalid utf8", b"{\"Records\":[{\"a\":\"\xff\xfe\"}]}".to_vec(), |e| matches!(e, DecodeError::Json { .. })),
    ];
    for (name, raw, check) in cases {
        let (r, batch) = decode_one(&raw);
        let err = r.expect_err(name);
        assert!(check(&err), "{name}: {err}");
        assert_eq!(batch.num_rows(), 0, "{name} appended rows");
    }
}

#[test]
fn multi_member_gzip_and_bom_and_plain_json_decode() {
    let mut two = gzip(br#"{"Records":[{"eventName":"A"},"#);
    two.extend(gzip(br#"{"eventName":"B"}]}"#));
    let (r, _) = decode_one(&two);
    assert_eq!(r.unwrap().counts.events, 2);
    let (r, _) = decode_one(b"\xEF\xBB\xBF{\"Records\":[{}]}");
    assert_eq!(r.unwrap().counts.events, 1);
    let (r, _) = decode_one(br#"{"Records":[]}"#);
    assert_eq!(r.unwrap().counts.events, 0);
}

#[test]
fn inflated_size_is_capped() {
    let big = format!(r#"{{"Records":[{{"a":"{}"}}]}}"#, "x".repeat(100_000));
    let mut dec = FileDecoder::new(50_000);
    let mut b = EventBatchBuilder::new(4);
    let err = dec.decode(&gzip(big.as_bytes()), "s", &mut b).unwrap_err();
    assert_eq!(err, DecodeError::TooLarge { limit: 50_000 });
}

#[test]
fn decoder_reuse_across_files_keeps_results_independent() {
    let mut dec = FileDecoder::default();
    let mut b = EventBatchBuilder::new(4);
    for i in 0..50 {
        let doc = format!(r#"{{"Records":[{{"eventName":"E{i}","eventTime":"2023-07-10T12:40:03Z"}}]}}"#);
        dec.decode(&gzip(doc.as_bytes()), "s", &mut b).unwrap();
        let _ = dec.decode(b"junk", "s", &mut b);
    }
    let batch = b.finish();
    assert_eq!(batch.num_rows(), 50);
    let rebuilt = rebuild_events(&batch).unwrap();
    assert_eq!(rebuilt[49]["eventName"], "E49");
}
