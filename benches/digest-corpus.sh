# Sourced by the integrity benchmarks: sets $corpus to the large corpus with signed digests
# (1,000,000 events, 1 day, 4 accounts, seed 1; ~7,000 log files, 600 digests), generated
# with $bin under target/bench-corpus/verify-large when missing.
corpus=target/bench-corpus/verify-large
if [ ! -f "$corpus/public-keys.json" ]; then
  rm -rf "$corpus"
  "$bin" generate --out "$corpus" --events 1000000 --days 1 --accounts 4 --seed 1 --digests >&2
fi
