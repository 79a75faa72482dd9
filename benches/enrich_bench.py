"""IP lookups per second: trailhouse's SQL functions against MaxMind's Python reader (the C
extension) on the same files and addresses. See benches/enrich.sh."""

import os
import random
import subprocess
import sys
import tempfile
import time

import maxminddb
from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPNetwork, IPSet

binary, networks, addresses = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
work = tempfile.mkdtemp(prefix="trailhouse-enrich-bench-")
rng = random.Random(7)

# Random public /24 networks (first octet 11..223, not private ranges).
nets = set()
while len(nets) < networks:
    a = rng.randint(11, 223)
    if a in (100, 127, 169, 172, 192):
        continue
    nets.add(f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24")
nets = sorted(nets)
t = time.time()
city = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
asn = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
countries = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "RO", "NL", "SG"]
for i, n in enumerate(nets):
    c = countries[i % len(countries)]
    city.insert_network(IPSet([n]), {"country": {"iso_code": c}, "city": {"names": {"en": f"City {i % 5000}"}},
                                     "location": {"latitude": (i % 180) - 90.0, "longitude": (i % 360) - 180.0}})
    asn.insert_network(IPSet([n]), {"autonomous_system_number": MmdbU32(1000 + i % 60000),
                                    "autonomous_system_organization": f"Network {i % 60000}"})
city_path, asn_path = os.path.join(work, "city.mmdb"), os.path.join(work, "asn.mmdb")
city.to_db_file(city_path)
asn.to_db_file(asn_path)
print(f"wrote {len(nets):,} networks in {time.time() - t:.0f} s: city {os.path.getsize(city_path) / 1e6:.1f} MB, "
      f"asn {os.path.getsize(asn_path) / 1e6:.1f} MB")

# Distinct addresses, half inside the networks, half anywhere public.
ips = set()
while len(ips) < addresses:
    if rng.random() < 0.5:
        n = IPNetwork(rng.choice(nets))
        ips.add(str(n[rng.randint(1, 254)]))
    else:
        ips.add(f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
ips = sorted(ips)
rng.shuffle(ips)
csv = os.path.join(work, "ips.csv")
with open(csv, "w") as f:
    f.write("ip\n")
    f.write("\n".join(ips))
    f.write("\n")

# A lake for the session to open (the query reads the CSV, not the lake).
lake = os.path.join(work, "lake")
logs = os.path.join(work, "logs")
subprocess.run([binary, "generate", "--events", "100", "--out", logs], check=True, capture_output=True)
subprocess.run([binary, "ingest", "--source", logs, "--lake", lake], check=True, capture_output=True)


def trailhouse(expr):
    sql = f"CREATE EXTERNAL TABLE ips STORED AS CSV LOCATION '{csv}' OPTIONS ('format.has_header' 'true'); " \
          f"SELECT {expr} AS n FROM ips"
    best = None
    for _ in range(3):
        t = time.time()
        out = subprocess.run([binary, "sql", "--format", "csv", "--geoip-city", city_path, "--geoip-asn", asn_path,
                              "--lake", lake, sql], check=True, capture_output=True, text=True).stdout
        took = time.time() - t
        best = took if best is None else min(best, took)
    return best, out.strip().splitlines()[-1]


base, n_rows = trailhouse("count(ip)")
geo, found = trailhouse("count(geo_country(ip))")
both, _ = trailhouse("count(geo_country(ip)) + count(asn(ip))")
print(f"trailhouse: {len(ips):,} addresses read and counted in {base:.2f} s (the baseline: no lookup); "
      f"geo_country {geo:.2f} s ({found} found): {len(ips) / max(geo - base, 1e-9):,.0f} lookups/s above the baseline; "
      f"geo_country and asn {both:.2f} s: {2 * len(ips) / max(both - base, 1e-9):,.0f} lookups/s")

for mode, name in [(maxminddb.MODE_MMAP_EXT, "C extension, mmap"), (maxminddb.MODE_MEMORY, "pure Python, in memory")]:
    try:
        reader = maxminddb.open_database(city_path, mode)
    except Exception as e:  # the C extension may be missing
        print(f"maxminddb ({name}): {e}")
        continue
    t = time.time()
    hits = sum(1 for ip in ips if reader.get(ip) is not None)
    took = time.time() - t
    print(f"maxminddb ({name}), city: {len(ips):,} lookups in {took:.2f} s ({hits:,} found): "
          f"{len(ips) / took:,.0f} lookups/s (a whole record decoded per lookup)")
