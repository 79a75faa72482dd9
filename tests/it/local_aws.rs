//! The local S3/SQS server as the root's tests use it: clients, a fresh bucket and queue,
//! S3 notifications, and how many messages a queue still holds.

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use test_support::endpoint;

/// Real SDK clients for the local server.
pub(crate) async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let aws = ingest::aws::AwsOptions { endpoint_url: Some(endpoint()), region: Some("us-east-1".into()) };
    (aws.s3_client().await, aws_sdk_sqs::Client::new(&aws.sdk_config().await))
}

/// A new bucket named `<prefix>-<uuid>`.
pub(crate) async fn new_bucket(s3: &aws_sdk_s3::Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&name).send().await.unwrap();
    name
}

/// A new bucket and a new queue of the same name, `<prefix>-<uuid>`: (bucket, queue URL).
pub(crate) async fn bucket_and_queue(
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
) -> (String, String) {
    let name = new_bucket(s3, prefix).await;
    let queue = sqs.create_queue().queue_name(&name).send().await.unwrap().queue_url.unwrap();
    (name, queue)
}

/// An S3 `ObjectCreated:Put` notification for `key` in `bucket`.
pub(crate) fn s3_note(bucket: &str, key: &str) -> String {
    serde_json::json!({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
        "s3":{"bucket":{"name":bucket},"object":{"key":key,"size":0}}}]})
    .to_string()
}

/// Sends one S3 notification per key, ten per request.
pub(crate) async fn notify(sqs: &aws_sdk_sqs::Client, queue: &str, bucket: &str, keys: &[String]) {
    for ten in keys.chunks(10) {
        let entries = ten.iter().enumerate().map(|(i, key)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(s3_note(bucket, key))
                .build()
                .unwrap()
        });
        let sent = sqs.send_message_batch().queue_url(queue).set_entries(Some(entries.collect())).send().await.unwrap();
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
}

/// Messages on `queue`, visible or held by a receiver.
pub(crate) async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue: &str) -> u64 {
    let a = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    a.attributes().unwrap().values().map(|v| v.parse::<u64>().unwrap()).sum()
}
