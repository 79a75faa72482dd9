#!/usr/bin/env bash
# Bounded fuzzing of the file decoder and the SQS message parser with cargo-fuzz
# (libFuzzer), on the stable toolchain (`--sanitizer none`: Rust's own checks, panics and
# overflows, are what we look for; the code under test has no `unsafe`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
#
# Seeds: every file of tests/data for the decoder, fuzz/seeds/ for the parser; the
# corpus grows under fuzz/corpus/ between runs. A crash is saved under fuzz/artifacts/ and
# fails the run: turn it into a regression test (see README, Fuzzing), then fix it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "Installing cargo-fuzz (once) ..." >&2
  cargo install cargo-fuzz --locked --quiet
fi
mkdir -p fuzz/corpus/decode_file fuzz/corpus/sqs_message
find tests/data -name '*.json*' -type f -exec cp -n {} fuzz/corpus/decode_file/ \;
cp -n fuzz/seeds/sqs_message/* fuzz/corpus/sqs_message/
mkdir -p target
for target in decode_file sqs_message; do
  echo "Fuzzing $target for ${secs}s ..." >&2
  log="target/fuzz-$target.log"
  status=0
  cargo fuzz run --sanitizer none --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=4096 -max_len=1048576 -print_final_stats=1 > "$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|thread .* panicked)|DONE|Done [0-9]+ runs' "$log" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz target $target failed (exit $status): the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
