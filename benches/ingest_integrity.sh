#!/usr/bin/env bash
# What continuous log file integrity validation costs ingest: a backfill of the large
# corpus with signed digests (1,000,000 events, 1 day, 4 accounts, ~7,000 log files, 600
# digests) into a fresh lake, with validation (the default: every log file's SHA-256 kept,
# every digest checked against them) and with --no-integrity, alternating, 3 runs each;
# beside zcat inflating the same files (the floor: inflating alone) in the same run.
#
#   benches/ingest_integrity.sh
#
# The corpus is generated (seed 1) under target/bench-corpus/verify-large when missing
# (benches/verify.sh uses it too).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
source benches/digest-corpus.sh
files=$(find "$corpus" -path '*/CloudTrail/*' -name '*.json.gz' | wc -l)
mb=$(du -sm "$corpus/AWSLogs" | cut -f1)
echo "corpus: $files log files, $mb MB; $(nproc) cores"
lake=target/bench-lake-integrity
run() {
  rm -rf "$lake"
  /usr/bin/time -f '%e %M' -o target/bench-time.txt "$bin" ingest --json --source "$corpus" --lake "$lake" "$@" \
    > target/bench-out.txt 2> target/bench-err.txt
  read -r s kb < <(tail -1 target/bench-time.txt)
  echo "$s $kb"
}
declare -a with without
for i in 1 2 3; do
  read -r s kb < <(run --public-keys "$corpus/public-keys.json")
  with+=("$s")
  checked=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["digests_checked"], s["digests_with_problems"], s["logs_verified"])' target/bench-out.txt)
  printf '%-44s run %d %7.2f s %6d MB RSS  (digests checked, with problems, logs verified: %s)\n' "ingest with integrity validation" "$i" "$s" "$((kb / 1024))" "$checked"
  read -r s kb < <(run --no-integrity)
  without+=("$s")
  printf '%-44s run %d %7.2f s %6d MB RSS\n' "ingest --no-integrity" "$i" "$s" "$((kb / 1024))"
done
/usr/bin/time -f '%e %M' -o target/bench-time.txt bash -c "find '$corpus' -path '*/CloudTrail/*' -name '*.json.gz' -print0 | xargs -0 -P $(nproc) -n 200 zcat > /dev/null"
read -r s kb < <(tail -1 target/bench-time.txt)
printf '%-44s       %7.2f s\n' "zcat of the same log files ($(nproc) at once)" "$s"
python3 - "${with[*]}" "${without[*]}" <<'PY'
import statistics, sys
w = sorted(map(float, sys.argv[1].split())); wo = sorted(map(float, sys.argv[2].split()))
mw, mwo = statistics.median(w), statistics.median(wo)
print(f"median: {mw:.2f} s with, {mwo:.2f} s without: validation costs {100 * (mw / mwo - 1):+.1f}% (target: under 10%)")
PY
