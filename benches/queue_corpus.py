"""Uploads a corpus of log files to the local S3 server and queues notifications of them.

    queue_corpus.py ENDPOINT CORPUS PER_MESSAGE QUEUE [--no-upload]

Prints the queue's URL. Files go to bucket `central` under their path in CORPUS;
PER_MESSAGE keys per message in CloudTrail's own SNS notification shape (raw delivery),
or plain S3 notifications when PER_MESSAGE is 1. `--no-upload` queues notifications of
files uploaded by an earlier call (a second queue over the same objects).
"""
import concurrent.futures as cf
import json
import os
import sys

import boto3

ep, corpus, per_message, queue = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
upload = "--no-upload" not in sys.argv[5:]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
sqs = boto3.client("sqs", endpoint_url=ep, region_name="us-east-1")
keys = []
for root, _, files in os.walk(corpus):
    for f in files:
        if f.endswith(".json.gz"):
            p = os.path.join(root, f)
            keys.append((os.path.relpath(p, corpus), p))
keys.sort()
if upload:
    s3.create_bucket(Bucket="central")

    def put(kp):
        k, p = kp
        with open(p, "rb") as fh:
            s3.put_object(Bucket="central", Key=k, Body=fh.read())

    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(put, keys))
q = sqs.create_queue(QueueName=queue, Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
done = [k for k, _ in keys]


def body(keys):
    if per_message == 1:
        return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "central"}, "object": {"key": keys[0]}}}]})
    return json.dumps({"s3Bucket": "central", "s3ObjectKey": keys})


bodies = [body(done[i:i + per_message]) for i in range(0, len(done), per_message)]
for i in range(0, len(bodies), 10):
    entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
    sqs.send_message_batch(QueueUrl=q, Entries=entries)
print(f"{len(done)} files in {len(bodies)} messages on {queue}", file=sys.stderr)
print(q)
