#!/usr/bin/env bash
# The SQS service's throughput: `ingest --queue-url --once` over a corpus already queued
# (files on the local S3 server, one S3 notification each), beside the local-folder
# backfill of the same files. Usage: benches/sqs_once.sh [large|small]
#
# KEYS_PER_MESSAGE (default 10): log files announced per message, in CloudTrail's own SNS
# notification shape (`{"s3Bucket": ..., "s3ObjectKey": [...]}`, raw delivery). moto's SQS
# slows down with every message queued (SendMessageBatch fell from 25/s to 4/s by 1,500
# messages), so one message per file (KEYS_PER_MESSAGE=1, plain S3 notifications) makes
# the figure moto's, not trailhouse's.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-large}
corpus="target/bench-corpus/$which"
[ -f "$corpus/planted.tsv" ] || { echo "run benches/e2e.sh $which first (it generates the corpus)" >&2; exit 2; }
source benches/release-bin.sh
pidfile="$PWD/target/moto-bench.pid"
endpoint=$(scripts/moto.sh start "$pidfile")
trap 'scripts/moto.sh stop "$pidfile"' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
per_message=${KEYS_PER_MESSAGE:-10}
echo "Uploading $corpus to moto and queueing its keys ($per_message per message) ..." >&2
queue=$(.venv/bin/python - "$endpoint" "$corpus" "$per_message" <<'PY'
import sys, os, json, boto3, concurrent.futures as cf
ep, corpus, per_message = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1")
sqs = boto3.client("sqs", endpoint_url=ep, region_name="us-east-1")
s3.create_bucket(Bucket="central")
q = sqs.create_queue(QueueName="bench")["QueueUrl"]
keys = []
for root, _, files in os.walk(corpus):
    for f in files:
        if f.endswith(".json.gz"):
            p = os.path.join(root, f)
            keys.append((os.path.relpath(p, corpus), p))
def put(kp):
    k, p = kp
    with open(p, "rb") as fh:
        s3.put_object(Bucket="central", Key=k, Body=fh.read())
    return k
with cf.ThreadPoolExecutor(16) as ex:
    done = list(ex.map(put, keys))
def body(keys):
    if per_message == 1:
        return json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "central"}, "object": {"key": keys[0]}}}]})
    return json.dumps({"s3Bucket": "central", "s3ObjectKey": keys})
bodies = [body(done[i:i + per_message]) for i in range(0, len(done), per_message)]
for i in range(0, len(bodies), 10):
    entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])]
    sqs.send_message_batch(QueueUrl=q, Entries=entries)
print(f"{len(done)} files in {len(bodies)} messages", file=sys.stderr)
print(q)
PY
)
measure() {
  /usr/bin/time -f '%e %M' -o target/bench-time.txt "$@" > target/bench-out.txt 2> target/bench-err.txt || { cat target/bench-err.txt >&2; exit 1; }
  cat target/bench-time.txt
}
rm -rf target/bench-lake/sqs target/bench-lake/backfill
read -r sqs_s sqs_kb < <(measure "$bin" ingest --json --once --queue-url "$queue" --endpoint-url "$endpoint" --lake target/bench-lake/sqs)
sqs_events=$(python3 -c "import json; print(json.load(open('target/bench-out.txt'))['events'])")
cp target/bench-out.txt target/bench-sqs.json
read -r bf_s bf_kb < <(measure "$bin" ingest --json --source "$corpus" --lake target/bench-lake/backfill)
bf_events=$(python3 -c "import json; print(json.load(open('target/bench-out.txt'))['events'])")
echo "ingest --once: $(python3 -c "import json; d=json.load(open('target/bench-sqs.json')); print(d['messages_deleted'], 'messages deleted,', d['commits'], 'commits')")" >&2
python3 - "$sqs_s" "$sqs_kb" "$sqs_events" "$bf_s" "$bf_kb" "$bf_events" <<'PY'
import sys
sqs_s, sqs_kb, sqs_e, bf_s, bf_kb, bf_e = map(float, sys.argv[1:])
print(f"{'':34}{'wall s':>8}{'events':>10}{'events/s':>12}{'peak RSS MB':>13}")
print(f"{'ingest --queue-url --once (moto)':34}{sqs_s:>8.2f}{sqs_e:>10.0f}{sqs_e/sqs_s:>12.0f}{sqs_kb/1024:>13.0f}")
print(f"{'ingest --source DIR (backfill)':34}{bf_s:>8.2f}{bf_e:>10.0f}{bf_e/bf_s:>12.0f}{bf_kb/1024:>13.0f}")
PY
