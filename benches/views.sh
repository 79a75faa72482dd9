#!/usr/bin/env bash
# The built-in views' time and peak memory: `SELECT * FROM <view>` with `trailhouse sql`
# and DuckDB running the same question (its own spelling) on the same Parquet files, each
# a process of its own, timed whole (start to exit) with its peak resident memory, in one
# run on this machine. Also the `actors` view as it was before issue 34 (a set of raw
# values per principal), and `actors` under a small `--memory-limit`.
#
#   benches/views.sh                  # the 10M-event lake of benches/query.sh
#   QUERY_EVENTS=1000000 benches/views.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
scripts/moto.sh install
source benches/query-lake.sh
exec .venv/bin/python benches/views_bench.py "$bin" "$lake"
