#!/usr/bin/env bash
# IP lookups per second: trailhouse's SQL functions (`geo_country`, `asn`) over a million
# distinct addresses, beside MaxMind's own Python reader (its C extension) looking up the
# same addresses in the same files, in one run on this machine. The files are written
# here with mmdb-writer: NETWORKS random /24 networks with a country, city and place, and
# an ASN file over the same networks (GeoLite2-City holds millions of networks; a lookup
# walks at most 32 levels of the tree for IPv4 either way).
#
#   benches/enrich.sh                 # 100,000 networks, 1,000,000 addresses
#   NETWORKS=20000 ADDRESSES=200000 benches/enrich.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/release-bin.sh
scripts/moto.sh install
exec .venv/bin/python benches/enrich_bench.py "$bin" "${NETWORKS:-100000}" "${ADDRESSES:-1000000}"
