#!/usr/bin/env bash
# N ingesters on one queue: 1, 2 and 3 `trailhouse ingest --queue-url --once` processes
# sharing one queue and one lake, over the corpus of `benches/e2e.sh large` (1,000,000
# events in 6,912 files) on the local S3/SQS server. For each N: wall time until every
# process has drained the queue and exited, events/s, each process's CPU seconds, and the
# local server's CPU seconds (it serves every GET and SQS call from one Python process, on
# the same 2 cores), so the figure can be read for a machine where S3 is not on the box.
#
#   benches/ingesters.sh [large|small] [max N]     (defaults: large 3)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-large}
max=${2:-3}
source benches/moto-corpus.sh
moto_pid=$(cat "$pidfile")
cpu_of() { # CPU seconds (user + system) of a live process
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}
echo "Uploading $corpus to the local server ..." >&2
.venv/bin/python benches/queue_corpus.py "$endpoint" "$corpus" "$per_message" warmup > /dev/null
printf '%-11s %8s %10s %10s %24s %10s\n' ingesters 'wall s' events events/s 'CPU s per ingester' 'server CPU s'
for n in $(seq 1 "$max"); do
  queue=$(.venv/bin/python benches/queue_corpus.py "$endpoint" "$corpus" "$per_message" "bench-$n" --no-upload 2>/dev/null)
  lake=target/bench-lake/ingesters-$n
  rm -rf "$lake"
  server_before=$(cpu_of "$moto_pid")
  start=$(date +%s.%N)
  pids=()
  for i in $(seq 1 "$n"); do
    /usr/bin/time -f '%U %S' -o "target/bench-ingester-$i.time" \
      "$bin" ingest --json --once --queue-url "$queue" --endpoint-url "$endpoint" --lake "$lake" \
      > "target/bench-ingester-$i.json" 2> "target/bench-ingester-$i.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat target/bench-ingester-*.err >&2; exit 1; }; done
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  server=$(echo "$(cpu_of "$moto_pid") - $server_before" | bc)
  events=$("$bin" sql --lake "$lake" --format csv "SELECT count(*) FROM cloudtrail" | tail -1)
  distinct=$("$bin" sql --lake "$lake" --format csv "SELECT count(DISTINCT eventid) FROM cloudtrail" | tail -1)
  [ "$events" = "$distinct" ] || { echo "duplicates: $events rows, $distinct event ids" >&2; exit 1; }
  cpus=$(for i in $(seq 1 "$n"); do awk '{ printf "%.1f", $1 + $2 }' "target/bench-ingester-$i.time"; printf ' '; done)
  printf '%-11s %8.1f %10s %10.0f %24s %10.1f\n' "$n" "$wall" "$events" "$(echo "$events / $wall" | bc -l)" "$cpus" "$server"
done
