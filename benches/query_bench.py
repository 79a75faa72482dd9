"""Times trailhouse sql and DuckDB on the same queries over the same lake (see query.sh).

usage: query_bench.py TRAILHOUSE_BIN LAKE_DIR [extra .sql files: one query each]
"""
import json
import statistics
import subprocess
import sys
import time

import duckdb
from deltalake import DeltaTable

QUERIES = {
    "full scan count": "SELECT count(*) FROM cloudtrail",
    "full scan, one column filtered": "SELECT count(*) FROM cloudtrail WHERE errorcode IS NOT NULL",
    "one day filtered": "SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventdate = DATE '2026-11-04' GROUP BY eventname ORDER BY n DESC LIMIT 10",
    "GROUP BY useridentity.arn": "SELECT useridentity.arn, count(*) AS n FROM cloudtrail GROUP BY useridentity.arn ORDER BY n DESC LIMIT 20",
}
RUNS = 3


def trailhouse(bin_, lake, sql):
    t = time.perf_counter()
    out = subprocess.run([bin_, "sql", "--lake", lake, "--format", "csv", sql], check=True, capture_output=True, text=True)
    return time.perf_counter() - t, out.stdout.strip().splitlines()[1:]


def duck(files, sql):
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - t, rows


def main():
    bin_, lake = sys.argv[1], sys.argv[2]
    queries = dict(QUERIES)
    for path in sys.argv[3:]:
        queries[path] = open(path).read().strip().rstrip(";")
    files = DeltaTable(f"{lake}/cloudtrail").file_uris()
    print(f"lake: {lake} ({len(files)} data files); median of {RUNS} runs; duckdb {duckdb.__version__}")
    print(f"{'query':34}{'trailhouse s':>14}{'duckdb s':>10}{'ratio':>8}  rows")
    results = []
    for name, sql in queries.items():
        th = [trailhouse(bin_, lake, sql) for _ in range(RUNS)]
        dk = [duck(files, sql) for _ in range(RUNS)]
        t_th = statistics.median(t for t, _ in th)
        t_dk = statistics.median(t for t, _ in dk)
        n_th, n_dk = len(th[0][1]), len(dk[0][1])
        flag = "" if n_th == n_dk else f"  ROW COUNT DIFFERS: {n_th} vs {n_dk}"
        print(f"{name:34}{t_th:>14.3f}{t_dk:>10.3f}{t_dk / t_th:>7.2f}x  {n_th}{flag}")
        results.append({"query": name, "trailhouse_s": t_th, "duckdb_s": t_dk})
    json.dump(results, open("target/bench-query.json", "w"), indent=1)


if __name__ == "__main__":
    main()
