#!/usr/bin/env bash
# Query benchmark: trailhouse sql against DuckDB running the same SQL on the same Parquet
# files of the same lake, in one run on this machine.
#
#   benches/query.sh
#
# The lake: 1,000,000 generated events over 7 days, 4 accounts (seed 1), ingested with the
# release build under target/bench-lake/query (kept between runs). DuckDB comes from PyPI
# in the venv scripts/moto.sh makes; it reads the files the Delta log lists (via the Python
# deltalake package), with the eventdate partition from the paths.
# Each query runs 3 times on each side; the median wall time is reported. trailhouse's
# time is the whole process (start, Delta log load, query, output); DuckDB's is in-process
# (connect, view, query), which favours DuckDB.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
scripts/moto.sh install
corpus=target/bench-corpus/query
lake=target/bench-lake/query
if [ ! -f "$corpus/planted.tsv" ]; then
  echo "Generating the query corpus ..." >&2
  "$bin" generate --out "$corpus" --events 1000000 --days 7 --accounts 4 --seed 1 >&2
fi
if [ ! -d "$lake/cloudtrail/_delta_log" ]; then
  echo "Ingesting it ..." >&2
  "$bin" ingest --source "$corpus" --lake "$lake" >&2
fi
exec .venv/bin/python benches/query_bench.py "$bin" "$lake" "$@"
