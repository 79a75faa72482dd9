"""Times trailhouse sql and DuckDB on the same analyst queries over the same lake (see
query.sh), and reports the bytes each read.

usage: query_bench.py TRAILHOUSE_BIN LAKE_DIR [extra .sql files: one query each, run as-is on both]

With CLUSTER=df://HOST:PORT (benches/cluster.sh) each query also runs with `trailhouse sql
--cluster`, timed the same way, and its rows are compared with the local run's.

trailhouse: the whole process (start, Delta log, plan, scan, CSV out), median of RUNS;
bytes = the Parquet scan's `bytes_scanned` from one `EXPLAIN ANALYZE` run.
DuckDB: in process (connect, view over the Delta log's files, query, fetch), the same
thread count; bytes = the growth of this process's `rchar` (/proc/self/io) during the
query, i.e. what it read through read(2)/pread(2), page cache included.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

import duckdb
from deltalake import DeltaTable

# QUERY_RUNS: fewer runs where one query takes minutes (benches/scale-measure.sh).
RUNS = int(os.environ.get("QUERY_RUNS", "3"))
THREADS = os.cpu_count() or 2
# A day in the middle of the 30-day corpus (2026-11-02 .. 2026-12-01); QUERY_DAY for others.
DAY = os.environ.get("QUERY_DAY", "2026-11-16")
# ROLLUPS=off: trailhouse answers from the events even where the hourly rollup could.
ROLLUPS = os.environ.get("ROLLUPS", "on")

# name -> (trailhouse SQL, DuckDB SQL or None when it is the same text). `{key}` is the
# needle access key, picked from the lake at start.
QUERIES = {
    "count(*)": ("SELECT count(*) FROM cloudtrail", None),
    "errors, count": ("SELECT count(*) FROM cloudtrail WHERE errorcode IS NOT NULL", None),
    "useridentity.type filter, GROUP BY useragent": (
        "SELECT useragent, count(*) AS n FROM cloudtrail WHERE useridentity.type = 'AssumedRole' "
        "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
        None,
    ),
    "errors GROUP BY useridentity.arn": (
        "SELECT useridentity.arn, count(*) AS n FROM cloudtrail WHERE errorcode IS NOT NULL "
        "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
        None,
    ),
    "GROUP BY useridentity.arn": (
        "SELECT useridentity.arn, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
        None,
    ),
    "principalid, count(DISTINCT ip)": (
        "SELECT useridentity.principalid, count(DISTINCT sourceipaddress) AS ips FROM cloudtrail "
        "GROUP BY 1 ORDER BY ips DESC, 1 LIMIT 20",
        None,
    ),
    "JSON: S3 buckets touched": (
        "SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket, count(*) AS n "
        "FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
        "SELECT json_extract_string(requestparameters, '$.bucketName') AS bucket, count(*) AS n "
        "FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
    ),
    "needle: one access key, everything": (
        "SELECT eventtime, eventname, sourceipaddress FROM cloudtrail "
        "WHERE useridentity.accesskeyid = '{key}' ORDER BY eventtime, eventname",
        None,
    ),
    "events per hour": (
        "SELECT date_trunc('hour', eventtime) AS h, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1",
        None,
    ),
    "one day, top event names": (
        f"SELECT eventname, count(*) AS n FROM cloudtrail WHERE eventdate = DATE '{DAY}' "
        "GROUP BY eventname ORDER BY n DESC, 1 LIMIT 10",
        None,
    ),
    "errors by service and code": (
        "SELECT eventsource, errorcode, count(*) AS n FROM cloudtrail WHERE errorcode IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20",
        None,
    ),
    "console logins by ip and result": (
        "SELECT sourceipaddress, json_extract_scalar(responseelements, '$.ConsoleLogin') AS result, count(*) AS n "
        "FROM cloudtrail WHERE eventname = 'ConsoleLogin' GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20",
        "SELECT sourceipaddress, json_extract_string(responseelements, '$.ConsoleLogin') AS result, count(*) AS n "
        "FROM cloudtrail WHERE eventname = 'ConsoleLogin' GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20",
    ),
    "join: calls within an hour of a console login": (
        "SELECT l.useridentity.arn AS arn, count(*) AS calls FROM cloudtrail l JOIN cloudtrail c "
        "ON c.useridentity.arn = l.useridentity.arn "
        "AND c.eventtime BETWEEN l.eventtime AND l.eventtime + INTERVAL '1' HOUR "
        f"WHERE l.eventname = 'ConsoleLogin' AND l.eventdate = DATE '{DAY}' AND c.eventdate = DATE '{DAY}' "
        "GROUP BY 1 ORDER BY calls DESC, 1 LIMIT 20",
        None,
    ),
    "accounts x regions, read-only share": (
        "SELECT recipientaccountid, awsregion, count(*) AS n, avg(CASE WHEN readonly THEN 1.0 ELSE 0.0 END) AS ro "
        "FROM cloudtrail GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 20",
        None,
    ),
}


CLUSTER = os.environ.get("CLUSTER")


def trailhouse(bin_, lake, sql, cluster=None):
    t = time.perf_counter()
    extra = ["--cluster", cluster] if cluster else []
    out = subprocess.run(
        [bin_, "sql", "--lake", lake, "--format", "csv", *extra, setting() + sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - t, out.stdout.strip().splitlines()[1:]


def setting():
    return "" if ROLLUPS == "on" else f"SET trailhouse.rollups = {ROLLUPS}; "


# bytes_scanned is a count metric: DataFusion prints it as 812, 10.12 K, 9.63 M or 1.2 B.
UNITS = {"": 1, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def trailhouse_bytes(bin_, lake, sql):
    """Sum of the plan's bytes_scanned metrics (printed with a count's K/M/B suffix)."""
    out = subprocess.run(
        [bin_, "sql", "--lake", lake, "--format", "csv", setting() + "EXPLAIN ANALYZE " + sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(float(v) * UNITS[u] for v, u in re.findall(r"bytes_scanned=([0-9.]+)(?: ([KMBT]))?", out))


def rchar():
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def duck(files, sql):
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
    before = rchar()
    rows = con.execute(sql).fetchall()
    read = rchar() - before
    return time.perf_counter() - t, rows, read


def mb(n):
    return f"{n / 1e6:.1f}"


def open_lake(lake):
    """The cloudtrail table's Parquet files (from its Delta log), a DuckDB connection with a
    `cloudtrail` view over them, and its event count."""
    files = DeltaTable(f"{lake}/cloudtrail").file_uris()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
    return files, con, con.execute("SELECT count(*) FROM cloudtrail").fetchone()[0]


def main():
    bin_, lake = sys.argv[1], sys.argv[2]
    files, con, events = open_lake(lake)
    # The needle: the rarest access key (ties by key), one principal's few calls.
    key = con.execute(
        "SELECT useridentity.accesskeyid FROM cloudtrail WHERE useridentity.accesskeyid IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*), 1 LIMIT 1"
    ).fetchone()[0]
    con.close()
    queries = {name: (th.format(key=key), (dk or th).format(key=key)) for name, (th, dk) in QUERIES.items()}
    for path in sys.argv[3:]:
        sql = open(path).read().strip().rstrip(";")
        queries[path] = (sql, sql)
    print(
        f"lake: {lake} ({events:,} events, {len(files)} data files); median of {RUNS} runs; "
        f"{THREADS} threads each; duckdb {duckdb.__version__}; trailhouse rollups {ROLLUPS}"
    )
    cl_head = f"{'cluster s':>10}" if CLUSTER else ""
    print(f"{'query':48}{'trailhouse s':>13}{cl_head}{'duckdb s':>10}{'speed-up':>9}{'th MB':>9}{'duck MB':>9}  rows")
    results = []
    for name, (th_sql, dk_sql) in queries.items():
        th = [trailhouse(bin_, lake, th_sql) for _ in range(RUNS)]
        cl_col, cl_flag = "", ""
        if CLUSTER:
            cl = [trailhouse(bin_, lake, th_sql, CLUSTER) for _ in range(RUNS)]
            t_cl = statistics.median(t for t, _ in cl)
            cl_col = f"{t_cl:>10.3f}"
            if sorted(cl[0][1]) != sorted(th[0][1]):
                cl_flag = "  CLUSTER ROWS DIFFER"
        dk = [duck(files, dk_sql) for _ in range(RUNS)]
        t_th = statistics.median(t for t, _ in th)
        t_dk = statistics.median(t for t, _, _ in dk)
        b_th = trailhouse_bytes(bin_, lake, th_sql)
        b_dk = statistics.median(b for _, _, b in dk)
        n_th, n_dk = len(th[0][1]), len(dk[0][1])
        flag = "" if n_th == n_dk else f"  ROW COUNT DIFFERS: {n_th} vs {n_dk}"
        print(f"{name:48}{t_th:>13.3f}{cl_col}{t_dk:>10.3f}{t_dk / t_th:>8.2f}x{mb(b_th):>9}{mb(b_dk):>9}  {n_th}{flag}{cl_flag}")
        results.append(
            {"query": name, "trailhouse_s": t_th, "duckdb_s": t_dk, "trailhouse_bytes": b_th, "duckdb_rchar": b_dk}
        )
        if CLUSTER:
            results[-1]["cluster_s"] = t_cl
    geo = statistics.geometric_mean(r["duckdb_s"] / r["trailhouse_s"] for r in results)
    slower = [r["query"] for r in results if r["trailhouse_s"] > r["duckdb_s"]]
    print(f"geometric mean speed-up over DuckDB: {geo:.2f}x; slower than DuckDB: {', '.join(slower) or 'none'}")
    if CLUSTER:
        ratio = statistics.geometric_mean(r["cluster_s"] / r["trailhouse_s"] for r in results)
        print(f"cluster vs local, geometric mean of time ratios: {ratio:.2f}x")
    json.dump(results, open("target/bench-query.json", "w"), indent=1)


if __name__ == "__main__":
    main()
