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
source benches/moto-corpus.sh
echo "Uploading $corpus to moto and queueing its keys ($per_message per message) ..." >&2
queue=$(.venv/bin/python benches/queue_corpus.py "$endpoint" "$corpus" "$per_message" bench)
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
