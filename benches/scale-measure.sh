# Sourced by benches/scale.sh (after the lake is built): every measurement of the 100M-event
# lake, each beside its peer in the same run. Uses $bin, $lake, $events, $accounts.

echo "lake: $lake, $("$bin" sql --lake "$lake" --format csv "SELECT count(*) FROM cloudtrail" | tail -1) events;" \
  "$(du -sh "$lake/cloudtrail" | cut -f1) of events, $(du -sh "$lake/rollups" 2>/dev/null | cut -f1) of rollup;" \
  "$(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB"

# 1. The 14 analyst queries, beside DuckDB over the same files: with the rollup, then without.
day=$("$bin" sql --lake "$lake" --format csv \
  "SELECT CAST(eventdate AS VARCHAR) FROM (SELECT DISTINCT eventdate FROM cloudtrail) ORDER BY 1 LIMIT 1 OFFSET 45" | tail -1)
for rollups in on off; do
  echo "== queries, rollups $rollups (QUERY_DAY=$day)"
  QUERY_RUNS=${SCALE_QUERY_RUNS:-1} QUERY_DAY=$day ROLLUPS=$rollups .venv/bin/python benches/query_bench.py "$bin" "$lake" | tee "$lake.queries-$rollups.txt"
done

# 2. detect --all: time and peak RSS (the bar: at most 4 GB), on a copy-free dry run.
measure() { # label, command...: label, wall seconds, peak RSS MB, exit status
  local label=$1 out
  shift
  out=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$out.err"
  local rc=$?
  # time(1) puts "Command exited with non-zero status N" first when N != 0 (detect exits 3
  # when it raised alerts): the figures are on the last line.
  read -r s kb < <(tail -1 "$out")
  printf '%-52s %9.2f s %7d MB  exit %s\n' "$label" "$s" "$((kb / 1024))" "$rc"
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || tail -3 "$out.err"
  rm -f "$out" "$out.err"
}
set +e
measure "detect --all --dry-run (--memory-limit 3GiB)" "$bin" detect --lake "$lake" --all --dry-run --memory-limit 3GiB
measure "detect, first incremental run (records the watermark)" "$bin" detect --lake "$lake" --memory-limit 3GiB

# 3. Five minutes of new data after the newest event, then an incremental run.
new=target/bench-corpus/scale-5min
rm -rf "$new"
newest=$("$bin" sql --lake "$lake" --format csv "SELECT max(eventtime) FROM cloudtrail" | tail -1)
start=$(date -u -d "@$((($(date -u -d "$newest" +%s) / 300 + 1) * 300))" +%Y-%m-%dT%H:%M:%SZ)
"$bin" generate --out "$new" --events 5800 --accounts "$accounts" --seed 99 --start "$start" --minutes 5 >/dev/null
"$bin" ingest --source "$new" --lake "$lake" --json >/dev/null
measure "detect after 5 minutes of new data (incremental)" "$bin" detect --lake "$lake" --memory-limit 3GiB
rm -rf "$new"

# 4. The console: overview and an investigation of the busiest principal, API time from a
# warm server (curl's time_total; the first request warms the session).
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --lake "$lake" --bind "127.0.0.1:$port" --memory-limit 3GiB >/dev/null 2>&1 &
server=$!
for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/api/info" >/dev/null && break; sleep 0.5; done
busiest=$("$bin" sql --lake "$lake" --format csv \
  "SELECT useridentity.arn FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1" | tail -1)
enc=$(.venv/bin/python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$busiest")
api() { # label, path: the median of 3 warm requests
  curl -fs -o /dev/null "http://127.0.0.1:$port$2"
  local t
  t=$(for _ in 1 2 3; do curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$2"; done | sort -n | sed -n 2p)
  printf '%-52s %9.3f s\n' "$1" "$t"
}
api "console: overview (24 h)" "/api/overview?range=24h"
api "console: overview (90 days)" "/api/overview?range=90d"
api "console: investigate the busiest principal (24 h)" "/api/investigate?kind=principal&value=$enc&range=24h"
api "console: investigate the busiest principal (7 days)" "/api/investigate?kind=principal&value=$enc&range=7d"
ps -o rss= -p "$server" | awk '{ printf "console server RSS after the requests: %d MB\n", $1 / 1024 }'
kill "$server"
