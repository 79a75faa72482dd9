# Sourced by benches/query.sh and benches/views.sh (after release-bin.sh): makes the query
# benchmark's lake, $lake, when it is missing. $events generated events over 30 days, 20
# accounts (seed 1), ingested with $bin and compacted (built once, kept between runs; the
# generated logs are deleted once ingested).
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
