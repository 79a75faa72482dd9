#!/usr/bin/env bash
# Checks what a `cargo test` run ran, from its output (scripts/test.sh saves it):
# - every libtest binary ran at least one test (a binary with none is a crate or a test file
#   whose tests were lost; `cargo test --all-targets` builds a library's unit-test binary
#   even with `test = false`, so a library without unit tests is excluded in scripts/test.sh);
# - at least as many tests passed as tests/test-count records. More: the file is raised to
#   the new count (commit it with the tests that were added). Fewer: the run fails; lower
#   the file by hand, in the same commit, when tests are removed on purpose.
# Benchmarks run in test mode (criterion) print no libtest summary and are not counted; a
# crate's doc tests count, but a crate without examples is no empty binary.
# Usage: scripts/count-tests.sh TEST-OUTPUT-LOG
set -euo pipefail
cd "$(dirname "$0")/.."
log=$1
record=${TRAILHOUSE_TEST_COUNT_FILE:-tests/test-count}
read -r empty total < <(awk '
  /^ +Running / { binary = $0; sub(/^ +Running /, "", binary); doc = 0; next }
  /^ +Doc-tests / { doc = 1; next }
  /^running [0-9]+ tests?$/ { if ($2 == 0 && !doc) { print "error: " binary " ran no test" > "/dev/stderr"; empty++ } next }
  /^test result: / { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed;?$/) total += $i }
  END { print empty + 0, total + 0 }
' "$log")
if [ "$empty" -gt 0 ]; then
  echo "error: $empty test binar$([ "$empty" = 1 ] && echo y || echo ies) ran no test (see above)" >&2
  exit 1
fi
recorded=$(cat "$record" 2>/dev/null || echo 0)
if [ "$total" -lt "$recorded" ]; then
  echo "error: $total tests passed, fewer than the $recorded recorded in $record: tests went missing" \
    "(a file or binary no longer built, a #[test] lost). Removed on purpose? Lower $record in the same commit." >&2
  exit 1
fi
if [ "$total" -gt "$recorded" ]; then
  echo "$total" > "$record"
  echo "$total tests passed (was $recorded): $record updated; commit it with the new tests." >&2
else
  echo "$total tests passed, as recorded in $record." >&2
fi
