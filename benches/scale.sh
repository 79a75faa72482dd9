#!/usr/bin/env bash
# A year of a mid-size organization, a quarter of it: 100M events, 90 days, 50 accounts, on
# this machine, beside DuckDB and zcat in the same run. Not part of CI (hours of CPU, ~15 GB
# of disk at its peak).
#
#   benches/scale.sh            # build the lake if missing, then measure everything
#   benches/scale.sh build      # only build the lake (generate, ingest, compact)
#   benches/scale.sh measure    # only measure (the lake must exist)
#
# Environment: SCALE_EVENTS (100000000), SCALE_CHUNKS (10: the 90 days are generated and
# ingested 9 days at a time, so at most one chunk of small gzip files is on disk),
# SCALE_LAKE (target/bench-lake/scale-<events>), TRAILHOUSE_BIN (a built binary; otherwise
# the release build is made first).
#
# What it writes: $lake/../scale-<events>.ingest.tsv (per chunk: events, files, gzip bytes,
# zcat x2 seconds, ingest seconds and peak RSS) and prints every figure; benches/README.md
# keeps the results.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
scripts/moto.sh install >/dev/null

events=${SCALE_EVENTS:-100000000}
chunks=${SCALE_CHUNKS:-10}
days=90
accounts=50
lake=${SCALE_LAKE:-target/bench-lake/scale-$events}
corpus=target/bench-corpus/scale-chunk
tsv=$lake.ingest.tsv
what=${1:-all}

# Peak RSS (MB) and wall seconds of a command: "<seconds> <MB>" on fd 3, its output as is.
timed() {
  local out
  out=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$out" "$@"
  awk '{ printf "%s %.0f\n", $1, $2 / 1024 }' "$out" >&3
  rm -f "$out"
}

# Two zcat processes over the chunk's log files (half each), output discarded: the floor.
zcat2() {
  find "$corpus" -name '*.json.gz' -print0 | sort -z >"$corpus.list"
  local n half
  n=$(tr -cd '\0' <"$corpus.list" | wc -c)
  half=$(((n + 1) / 2))
  local start=$EPOCHREALTIME
  (head -z -n "$half" "$corpus.list" | xargs -0 -n 2000 zcat >/dev/null) &
  (tail -z -n +"$((half + 1))" "$corpus.list" | xargs -0 -n 2000 zcat >/dev/null) &
  wait
  rm -f "$corpus.list"
  echo "$start $EPOCHREALTIME" | awk '{ printf "%.2f\n", $2 - $1 }'
}

build() {
  if [ -d "$lake/cloudtrail/_delta_log" ] && [ -f "$lake.built" ]; then
    echo "The lake $lake is built ($(cat "$lake.built"))." >&2
    return
  fi
  rm -rf "$corpus"
  mkdir -p "$(dirname "$lake")"
  # An interrupted build resumes after its last chunk ingested (the ingest of a chunk is
  # exactly once: a chunk interrupted midway is read again and adds only what is missing).
  local done=0
  if [ -f "$tsv" ] && [ -d "$lake/cloudtrail/_delta_log" ]; then
    done=$(($(wc -l <"$tsv") - 1))
    echo "Resuming after chunk $done." >&2
  else
    rm -rf "$lake"
    printf 'chunk\tstart\tevents\tfiles\tgzip_bytes\tzcat2_s\tingest_s\tingest_rss_mb\n' >"$tsv"
  fi
  local per_chunk=$((events / chunks)) chunk_days=$((days / chunks))
  for ((i = done; i < chunks; i++)); do
    local start
    start=$(date -u -d "2026-09-01 + $((i * chunk_days)) days" +%F)
    echo "Chunk $((i + 1))/$chunks: generating $per_chunk events over $chunk_days days from $start ..." >&2
    "$bin" generate --out "$corpus" --events "$per_chunk" --days "$chunk_days" --accounts "$accounts" \
      --start "$start" --seed "$((i + 1))" --accounts-seed 1 --skew >&2
    local files bytes z ingest
    files=$(find "$corpus" -name '*.json.gz' | wc -l)
    bytes=$(find "$corpus" -name '*.json.gz' -printf '%s\n' | awk '{ s += $1 } END { print s }')
    z=$(zcat2)
    echo "  zcat x2: $z s; ingesting ..." >&2
    ingest=$( { timed "$bin" ingest --source "$corpus" --lake "$lake" >&2; } 3>&1)
    echo "  ingest: $ingest (s, MB)" >&2
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$((i + 1))" "$start" "$per_chunk" "$files" "$bytes" "$z" "${ingest// /$'\t'}" >>"$tsv"
    rm -rf "$corpus"
  done
  echo "Compacting ..." >&2
  local c
  c=$( { timed "$bin" compact --lake "$lake" --retention-hours 0 >&2; } 3>&1)
  echo "compact: $c (s, MB)" >&2
  echo "compact $c" >"$lake.built"
}

report_ingest() {
  awk -F'\t' 'NR > 1 { e += $3; f += $4; b += $5; z += $6; t += $7; if ($8 > m) m = $8 }
    END { printf "ingest: %d events, %d files, %.1f GB gzip; zcat x2 %.0f s, ingest %.0f s (%.2fx zcat), peak RSS %d MB\n",
          e, f, b / 1e9, z, t, t / z, m }' "$tsv"
  echo "compact (s, MB): $(cut -d' ' -f2- "$lake.built")"
}

case $what in
  build) build ;;
  measure) report_ingest; source benches/scale-measure.sh ;;
  all) build; report_ingest; source benches/scale-measure.sh ;;
  *) echo "usage: benches/scale.sh [build|measure]" >&2; exit 2 ;;
esac
