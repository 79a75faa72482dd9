#!/usr/bin/env bash
# Log file integrity benchmark: `trailhouse verify` over the large generated corpus with
# signed digests (1,000,000 events, 1 day, 4 accounts, ~7,000 log files, 96 digest chains'
# hours), beside the AWS CLI's per-file method (zlib inflate + SHA-256 in Python, the
# loop `aws cloudtrail validate-logs` runs after downloading each file) on the same files.
#
#   benches/verify.sh
#
# The corpus is generated (seed 1) under target/bench-corpus/verify-large when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
source benches/digest-corpus.sh
scripts/moto.sh install >/dev/null
files=$(find "$corpus" -path '*/CloudTrail/*' -name '*.json.gz' | wc -l)
digests=$(find "$corpus" -path '*/CloudTrail-Digest/*' -name '*.json.gz' | wc -l)
mb=$(du -sm "$corpus/AWSLogs" | cut -f1)
echo "corpus: $files log files, $digests digests, $mb MB; $(nproc) cores"
/usr/bin/time -f '%e %M' -o target/bench-time.txt "$bin" verify --source "$corpus" --public-keys "$corpus/public-keys.json" > target/bench-out.txt
read -r s kb < <(tail -1 target/bench-time.txt)
printf '%-52s %7.2f s %8.0f files/s %7.1f MB/s %6d MB RSS  %s\n' "trailhouse verify (signatures, chains, every log file)" "$s" \
  "$(echo "$files / $s" | bc -l)" "$(echo "$mb / $s" | bc -l)" "$((kb / 1024))" "$(tail -1 target/bench-out.txt)"
/usr/bin/time -f '%e %M' -o target/bench-time.txt .venv/bin/python - "$corpus" <<'PY'
import hashlib, pathlib, sys, zlib
n = 0
for p in pathlib.Path(sys.argv[1]).rglob("*.json.gz"):
    if "/CloudTrail/" not in str(p):
        continue
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    h = hashlib.sha256(inflater.decompress(p.read_bytes()))
    h.update(inflater.flush())
    n += 1
print(n)
PY
read -r s kb < <(tail -1 target/bench-time.txt)
printf '%-52s %7.2f s %8.0f files/s %7.1f MB/s %6d MB RSS\n' "AWS CLI's per-file hashing (Python zlib + sha256)" "$s" \
  "$(echo "$files / $s" | bc -l)" "$(echo "$mb / $s" | bc -l)" "$((kb / 1024))"
