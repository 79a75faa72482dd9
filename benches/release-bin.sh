# Sourced by the benchmark scripts: sets $bin to the trailhouse binary to measure.
# TRAILHOUSE_BIN=path measures that binary; otherwise the release build is made (or
# brought up to date) first.
bin=${TRAILHOUSE_BIN:-}
if [ -z "$bin" ]; then
  echo "Building the release binary (first build: ~23 min on 2 cores, measured 2026-12-01) ..." >&2
  cargo build --release --quiet --bin trailhouse
  bin=target/release/trailhouse
fi
