#!/usr/bin/env bash
# Query benchmark: 14 analyst queries, trailhouse sql against DuckDB running the same SQL
# (JSON functions spelled DuckDB's way) on the same Parquet files of the same lake, with
# the same number of threads, in one run on this machine.
#
#   benches/query.sh                 # the 10M-event lake
#   QUERY_EVENTS=1000000 benches/query.sh
#
# The lake: 10,000,000 generated events over 30 days, 20 accounts (seed 1), ingested with
# the release build under target/bench-lake/query-<events> and compacted (built once, kept
# between runs; the generated logs are deleted once ingested). DuckDB comes from PyPI in the venv
# scripts/moto.sh makes; it reads the files the Delta log lists (via the Python deltalake
# package), with the eventdate partition from the paths.
# Each query runs 3 times on each side; the median wall time is reported, with the bytes
# each side read (see query_bench.py). trailhouse's time is the whole process (start,
# Delta log load, query, output); DuckDB's is in-process (connect, view, query), which
# favours DuckDB.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
scripts/moto.sh install
events=${QUERY_EVENTS:-10000000}
corpus=target/bench-corpus/query-$events
lake=target/bench-lake/query-$events
if [ ! -d "$lake/cloudtrail/_delta_log" ]; then
  echo "Generating $events events (30 days, 20 accounts) ..." >&2
  rm -rf "$corpus" "$lake"
  "$bin" generate --out "$corpus" --events "$events" --days 30 --accounts 20 --seed 1 >&2
  echo "Ingesting them ..." >&2
  "$bin" ingest --source "$corpus" --lake "$lake" >&2
  rm -rf "$corpus"
  # One backfill of 1M small files writes ~7,300 Parquet files; a lake analysts query is
  # compacted (`trailhouse compact`, what the README tells users to schedule): 30 files.
  "$bin" compact --lake "$lake" --retention-hours 0 >&2
fi
exec .venv/bin/python benches/query_bench.py "$bin" "$lake" "$@"
