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
source benches/query-lake.sh
exec .venv/bin/python benches/query_bench.py "$bin" "$lake" "$@"
