#!/usr/bin/env bash
# The query benchmark (benches/query.sh: 14 analyst queries over the 10M-event lake, beside
# DuckDB) run locally and on a Ballista cluster on this machine: a scheduler and two
# executors (`trailhouse cluster ...`, 127.0.0.1, free ports), each query's median time both
# ways and its rows compared. On one 2-core machine the cluster cannot be faster: the figure
# is what distribution costs per query (planning round trips, shipping the file list,
# shuffles through Arrow Flight).
#
#   benches/cluster.sh                 # the 10M-event lake of benches/query.sh (built if missing)
#   QUERY_EVENTS=1000000 benches/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
events=${QUERY_EVENTS:-10000000}
lake=target/bench-lake/query-$events
[ -d "$lake/cloudtrail/_delta_log" ] || { echo "no $lake: run benches/query.sh first (it builds the lake)" >&2; exit 2; }
work=target/bench-cluster
rm -rf "$work"
mkdir -p "$work"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
export TRAILHOUSE_LOG="warn,ballista_scheduler=info,ballista_executor=info"
"$bin" cluster scheduler --bind 127.0.0.1:0 > "$work/scheduler.out" 2> "$work/scheduler.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/scheduler.out" 2>/dev/null && break; sleep 0.1; done
url=$(awk '{ print $NF; exit }' "$work/scheduler.out")
for n in 1 2; do
  "$bin" cluster executor --scheduler "$url" --bind 127.0.0.1:0 --grpc-port 0 --work-dir "$work/work-$n" \
    2> "$work/executor-$n.log" &
  pids+=($!)
done
for _ in $(seq 300); do
  [ "$(grep -c 'Received register executor request' "$work/scheduler.log")" -ge 2 ] && break
  sleep 0.1
done
echo "cluster: scheduler $url, 2 executors (logs under $work)" >&2
unset TRAILHOUSE_LOG
CLUSTER="$url" .venv/bin/python benches/query_bench.py "$bin" "$lake" "$@"
