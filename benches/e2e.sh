#!/usr/bin/env bash
# End-to-end ingest benchmark: the release build against the decompression floor (zcat
# with as many processes as cores) on the same files, in one run on this machine.
#
#   benches/e2e.sh [large|small]      (default: large)
#
# large: 1,000,000 events, 1 day, 4 accounts (about 7,000 files)
# small: 200,000 events, 7 days, 8 accounts (tens of thousands of tiny files)
# Corpora are generated (seed 1) under target/bench-corpus/ when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-large}
case "$which" in
  large) events=1000000 days=1 accounts=4 ;;
  small) events=200000 days=7 accounts=8 ;;
  *) echo "usage: $0 [large|small]" >&2; exit 2 ;;
esac
cores=$(nproc)
corpus="target/bench-corpus/$which"
lake="target/bench-lake/$which"

source benches/release-bin.sh

if [ ! -f "$corpus/planted.tsv" ]; then
  echo "Generating the $which corpus ..." >&2
  "$bin" generate --out "$corpus" --events "$events" --days "$days" --accounts "$accounts" --seed 1
fi
files=$(find "$corpus" -name '*.json.gz' | wc -l)
bytes=$(find "$corpus" -name '*.json.gz' -print0 | du -cb --files0-from=- | tail -1 | cut -f1)

# Warm the page cache so both sides read from memory.
find "$corpus" -name '*.json.gz' -print0 | xargs -0 cat > /dev/null

measure() { # prints "wall_seconds peak_rss_kb"
  /usr/bin/time -f '%e %M' -o target/bench-time.txt "$@" > target/bench-out.txt 2> target/bench-err.txt || { cat target/bench-err.txt >&2; exit 1; }
  cat target/bench-time.txt
}

# zcat's output goes to /dev/null: the floor is decompression alone (writing 1.1 GB to a
# file, as this script did until 2026-11-24, made it ~15% slower).
read -r zcat_s _ < <(measure bash -c "find '$corpus' -name '*.json.gz' -print0 | xargs -0 -P $cores -n 256 zcat > /dev/null")
rm -rf "$lake"
read -r ingest_s ingest_kb < <(measure "$bin" ingest --json --source "$corpus" --lake "$lake")
ingested=$(python3 -c "import json; print(json.load(open('target/bench-out.txt'))['events'])")
lake_bytes=$(du -sb "$lake/cloudtrail" | cut -f1)
# DuckDB (from PyPI, in the venv scripts/moto.sh makes) on the same files.
scripts/moto.sh install >/dev/null
read -r duck_s duck_kb < <(measure .venv/bin/python benches/duckdb_ingest.py "$corpus" "target/bench-duckdb/$which")
duck_rows=$(cut -d' ' -f2 target/bench-out.txt)

python3 - "$which" "$files" "$bytes" "$ingested" "$zcat_s" "$ingest_s" "$ingest_kb" "$lake_bytes" "$cores" "$duck_s" "$duck_kb" "$duck_rows" <<'PY'
import sys
which, files, nbytes, events, zcat_s, ingest_s, kb, lake_bytes, cores, duck_s, duck_kb, duck_rows = sys.argv[1:]
duck_s, duck_kb = float(duck_s), int(duck_kb)
files, nbytes, events, kb, lake_bytes = int(files), int(nbytes), int(events), int(kb), int(lake_bytes)
zcat_s, ingest_s = float(zcat_s), float(ingest_s)
print(f"corpus: {which}, {files} files, {events} events, {nbytes/1e6:.1f} MB gzip; {cores} cores")
print(f"{'':28}{'wall s':>10}{'events/s':>14}{'peak RSS MB':>14}")
print(f"{'zcat x' + cores + ' (floor)':28}{zcat_s:>10.2f}{events/zcat_s:>14.0f}{'':>14}")
print(f"{'trailhouse ingest':28}{ingest_s:>10.2f}{events/ingest_s:>14.0f}{kb/1024:>14.0f}")
print(f"{'duckdb read_json -> parquet':28}{duck_s:>10.2f}{int(duck_rows)/duck_s:>14.0f}{duck_kb/1024:>14.0f}")
print(f"ingest / zcat: {ingest_s/zcat_s:.2f}x the floor's time; lake {lake_bytes/1e6:.1f} MB ({lake_bytes/nbytes:.2f}x the gzip bytes)")
print(f"duckdb / ingest: trailhouse is {duck_s/ingest_s:.2f}x faster than DuckDB ({duck_rows} rows)")
PY
