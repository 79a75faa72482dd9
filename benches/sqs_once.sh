#!/usr/bin/env bash
# The SQS service's throughput: `ingest --queue-url --once` over a corpus already queued
# (files on the local S3 server, one S3 notification each), beside the local-folder
# backfill of the same files. Usage: benches/sqs_once.sh [large|small]
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
queue=$(.venv/bin/python - "$endpoint" "$corpus" <<'PY'
import sys, os, json, boto3, concurrent.futures as cf
ep, corpus = sys.argv[1], sys.argv[2]
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
for i in range(0, len(done), 10):
    entries = [{"Id": str(j), "MessageBody": json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "central"}, "object": {"key": k}}}]})} for j, k in enumerate(done[i:i+10])]
    sqs.send_message_batch(QueueUrl=q, Entries=entries)
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
read -r bf_s bf_kb < <(measure "$bin" ingest --json --source "$corpus" --lake target/bench-lake/backfill)
bf_events=$(python3 -c "import json; print(json.load(open('target/bench-out.txt'))['events'])")
python3 - "$sqs_s" "$sqs_kb" "$sqs_events" "$bf_s" "$bf_kb" "$bf_events" <<'PY'
import sys
sqs_s, sqs_kb, sqs_e, bf_s, bf_kb, bf_e = map(float, sys.argv[1:])
print(f"{'':34}{'wall s':>8}{'events':>10}{'events/s':>12}{'peak RSS MB':>13}")
print(f"{'ingest --queue-url --once (moto)':34}{sqs_s:>8.2f}{sqs_e:>10.0f}{sqs_e/sqs_s:>12.0f}{sqs_kb/1024:>13.0f}")
print(f"{'ingest --source DIR (backfill)':34}{bf_s:>8.2f}{bf_e:>10.0f}{bf_e/bf_s:>12.0f}{bf_kb/1024:>13.0f}")
PY
