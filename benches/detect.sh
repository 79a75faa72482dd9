#!/usr/bin/env bash
# Detection benchmark: the whole pack over the 1,000,000-event lake of `benches/e2e.sh large`,
# then an incremental run after adding about five minutes of new data to it.
#
#   benches/detect.sh
#
# Works on a copy of the lake (target/bench-lake/detect) so the e2e lake stays untouched.
# "Five minutes" is volume: 1,000,000 events a day is ~3,500 events per 5 minutes, as
# generated files (seed 2, another org) ingested in one commit.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
if [ ! -d target/bench-lake/large/cloudtrail/_delta_log ]; then
  benches/e2e.sh large >&2
fi
lake=target/bench-lake/detect
new=target/bench-corpus/detect-5min
rm -rf "$lake" "$new"
cp -r target/bench-lake/large "$lake"
"$bin" generate --out "$new" --events 3500 --accounts 4 --seed 2 >/dev/null

timed() { # label, command...: prints the label, wall seconds and peak RSS
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o target/bench-time.txt "$@" > target/bench-out.txt 2> target/bench-err.txt
  local rc=$?
  read -r s kb < <(tail -1 target/bench-time.txt)
  printf '%-44s %8.2f s %8.0f MB  exit %s  %s\n' "$label" "$s" "$((kb / 1024))" "$rc" "$(grep -o '[0-9]* rules over.*' target/bench-err.txt | head -1)"
}
set +e
rules=$("$bin" rules list --json | wc -l)
echo "lake: $(du -sh "$lake/cloudtrail" | cut -f1) of Parquet, 1,000,000 events; $rules rules; $(nproc) cores"
timed "full pack over the lake (--all, dry run)" "$bin" detect --lake "$lake" --all --dry-run --format ndjson -v
echo "  alerts: $(wc -l < target/bench-out.txt)"
timed "first incremental run (everything, recorded)" "$bin" detect --lake "$lake" --format ndjson -v
timed "incremental run, nothing new" "$bin" detect --lake "$lake" --format ndjson -v
"$bin" ingest --source "$new" --lake "$lake" --json > /dev/null
timed "incremental run after ~5 min of new data" "$bin" detect --lake "$lake" --format ndjson -v
echo "  new alerts: $(wc -l < target/bench-out.txt)"

# The same SQL in DuckDB over the same Parquet files (the pack as `detect --all` runs it).
scripts/moto.sh install >/dev/null
/usr/bin/time -f '%e %M' -o target/bench-time.txt .venv/bin/python benches/pack_duckdb.py target/bench-lake/large detections/rules > target/bench-out.txt
read -r s kb < <(tail -1 target/bench-time.txt)
printf '%-44s %8.2f s %8.0f MB  %s\n' "DuckDB: the pack's SQL over the same files" "$s" "$((kb / 1024))" "$(cat target/bench-out.txt)"
