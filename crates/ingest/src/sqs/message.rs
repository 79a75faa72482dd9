//! SQS message bodies that announce new log files, in every shape users wire up:
//! S3 event notifications (direct or inside an SNS envelope), EventBridge "Object Created"
//! events, CloudTrail's own SNS notification, and S3's test event.

use serde_json::Value;

/// An S3 object a message announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    /// Size when the message says it.
    pub size: Option<i64>,
}

/// What a message body means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// New objects (possibly none, e.g. only `ObjectRemoved` records).
    Objects(Vec<ObjectRef>),
    /// `s3:TestEvent`, sent when a notification is configured: acknowledge it.
    TestEvent,
}

/// A body that matches no known shape (left on the queue for the dead-letter queue).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised message body: {0}")]
pub struct Unrecognised(pub String);

/// Parses one SQS message body.
pub fn parse_body(body: &str) -> Result<Announcement, Unrecognised> {
    let v: Value = serde_json::from_str(body).map_err(|e| Unrecognised(format!("not JSON ({e})")))?;
    parse_value(&v, 0)
}

fn parse_value(v: &Value, depth: u8) -> Result<Announcement, Unrecognised> {
    let Some(obj) = v.as_object() else { return Err(Unrecognised("not a JSON object".into())) };
    // SNS envelope (no raw delivery): the payload is a JSON string in `Message`.
    if obj.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let inner = obj
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| Unrecognised("SNS envelope without a Message string".into()))?;
        let inner: Value =
            serde_json::from_str(inner).map_err(|e| Unrecognised(format!("SNS Message is not JSON ({e})")))?;
        return parse_value(&inner, depth + 1);
    }
    if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Announcement::TestEvent);
    }
    if let Some(records) = obj.get("Records").and_then(Value::as_array) {
        let mut out = vec![];
        for r in records {
            let created = r.get("eventName").and_then(Value::as_str).is_some_and(|n| n.starts_with("ObjectCreated"));
            let s3 = r.get("s3");
            let bucket = s3.and_then(|s| s.pointer("/bucket/name")).and_then(Value::as_str);
            let key = s3.and_then(|s| s.pointer("/object/key")).and_then(Value::as_str);
            let (Some(bucket), Some(key)) = (bucket, key) else {
                return Err(Unrecognised("a Records entry without s3.bucket.name / s3.object.key".into()));
            };
            if created {
                let size = s3.and_then(|s| s.pointer("/object/size")).and_then(Value::as_i64);
                out.push(ObjectRef { bucket: bucket.to_string(), key: decode_s3_key(key), size });
            }
        }
        return Ok(Announcement::Objects(out));
    }
    if obj.get("source").and_then(Value::as_str) == Some("aws.s3") {
        let detail_type = obj.get("detail-type").and_then(Value::as_str).unwrap_or("");
        let d = obj.get("detail");
        let bucket = d.and_then(|d| d.pointer("/bucket/name")).and_then(Value::as_str);
        let key = d.and_then(|d| d.pointer("/object/key")).and_then(Value::as_str);
        return match (bucket, key) {
            (Some(b), Some(k)) if detail_type == "Object Created" => {
                let size = d.and_then(|d| d.pointer("/object/size")).and_then(Value::as_i64);
                Ok(Announcement::Objects(vec![ObjectRef { bucket: b.to_string(), key: k.to_string(), size }]))
            }
            (Some(_), Some(_)) => Ok(Announcement::Objects(vec![])),
            _ => Err(Unrecognised("EventBridge event without detail.bucket.name / detail.object.key".into())),
        };
    }
    if let (Some(bucket), Some(keys)) =
        (obj.get("s3Bucket").and_then(Value::as_str), obj.get("s3ObjectKey").and_then(Value::as_array))
    {
        let objects = keys
            .iter()
            .map(|k| k.as_str().map(|k| ObjectRef { bucket: bucket.to_string(), key: k.to_string(), size: None }))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Unrecognised("s3ObjectKey holds a non-string".into()))?;
        return Ok(Announcement::Objects(objects));
    }
    Err(Unrecognised("no known shape (S3, SNS, EventBridge or CloudTrail notification)".into()))
}

/// S3 notification keys are URL-encoded with `+` for a space.
pub fn decode_s3_key(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(bucket: &str, key: &str, size: Option<i64>) -> ObjectRef {
        ObjectRef { bucket: bucket.into(), key: key.into(), size }
    }

    #[test]
    fn every_message_shape_parses() {
        let s3 = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"B"},"object":{"key":"AWSLogs/1/CloudTrail/us-east-1/2023/07/10/a+b%2Fc.json.gz","size":1234,"eTag":"x"}}}]}"#;
        let sns = serde_json::json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message": s3}).to_string();
        let cloudtrail = r#"{"s3Bucket":"B","s3ObjectKey":["AWSLogs/1/CloudTrail/us-east-1/2023/07/10/x.json.gz","AWSLogs/1/CloudTrail/us-east-1/2023/07/10/y.json.gz"]}"#;
        let cloudtrail_sns = serde_json::json!({"Type":"Notification","Message": cloudtrail}).to_string();
        let eventbridge = r#"{"version":"0","id":"i","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"B"},"object":{"key":"AWSLogs/k.json.gz","size":99,"etag":"e"}}}"#;
        let cases: Vec<(&str, Result<Announcement, ()>)> = vec![
            (
                s3,
                Ok(Announcement::Objects(vec![obj(
                    "B",
                    "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/a b/c.json.gz",
                    Some(1234),
                )])),
            ),
            (
                &sns,
                Ok(Announcement::Objects(vec![obj(
                    "B",
                    "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/a b/c.json.gz",
                    Some(1234),
                )])),
            ),
            (
                cloudtrail,
                Ok(Announcement::Objects(vec![
                    obj("B", "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/x.json.gz", None),
                    obj("B", "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/y.json.gz", None),
                ])),
            ),
            (
                &cloudtrail_sns,
                Ok(Announcement::Objects(vec![
                    obj("B", "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/x.json.gz", None),
                    obj("B", "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/y.json.gz", None),
                ])),
            ),
            (eventbridge, Ok(Announcement::Objects(vec![obj("B", "AWSLogs/k.json.gz", Some(99))]))),
            (
                r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"t","Bucket":"B","RequestId":"r","HostId":"h"}"#,
                Ok(Announcement::TestEvent),
            ),
            (
                r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"B"},"object":{"key":"k"}}}]}"#,
                Ok(Announcement::Objects(vec![])),
            ),
            (
                r#"{"detail-type":"Object Deleted","source":"aws.s3","detail":{"bucket":{"name":"B"},"object":{"key":"k"}}}"#,
                Ok(Announcement::Objects(vec![])),
            ),
            ("not json", Err(())),
            ("[1,2]", Err(())),
            (r#"{"hello":"world"}"#, Err(())),
            (r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#, Err(())),
            (r#"{"Type":"Notification","Message":"not json"}"#, Err(())),
            (r#"{"s3Bucket":"B","s3ObjectKey":[1]}"#, Err(())),
        ];
        for (body, want) in cases {
            assert_eq!(parse_body(body).map_err(|_| ()), want, "{body}");
        }
    }

    #[test]
    fn s3_keys_are_url_decoded() {
        for (raw, want) in
            [("a+b", "a b"), ("a%2Fb", "a/b"), ("%41%42", "AB"), ("100%", "100%"), ("%zz", "%zz"), ("%e2%9c%93", "✓")]
        {
            assert_eq!(decode_s3_key(raw), want, "{raw}");
        }
    }
}
