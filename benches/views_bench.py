"""Time and peak memory of the built-in views (see views.sh): `SELECT * FROM <view>` with
`trailhouse sql --format csv` and the same question in DuckDB, each in a process of its
own, on the same lake's Parquet files.

usage: views_bench.py TRAILHOUSE_BIN LAKE_DIR

Both sides: wall time from start to exit and the process's peak resident memory (ru_maxrss
from wait4), median of RUNS; the output goes to /dev/null (DuckDB fetches every row).
DuckDB has no principal(useridentity): it groups by the identity's ARN or principal id,
which gives a comparable number of groups.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from query_bench import open_lake  # the same lake, opened the same way

RUNS = 3
THREADS = os.cpu_count() or 2

# The actors view before issue 34: a set of raw values per principal (DISTINCT aggregates).
ACTORS_BEFORE = """SELECT principal(useridentity) AS principal,
        min(useridentity.type) AS identity_type,
        min(eventtime) AS first_seen,
        max(eventtime) AS last_seen,
        count(*) AS events,
        count(DISTINCT eventname) AS distinct_actions,
        array_agg(DISTINCT recipientaccountid) AS accounts,
        array_agg(DISTINCT sourceipaddress) AS source_ips,
        array_agg(DISTINCT awsregion) AS regions,
        round(avg(CASE WHEN errorcode IS NULL THEN 0.0 ELSE 1.0 END), 4) AS error_rate
 FROM cloudtrail
 GROUP BY 1"""

PRINCIPAL = "coalesce(useridentity.arn, useridentity.principalid, useridentity.invokedby)"
DUCK = {
    "actors": f"""SELECT {PRINCIPAL} AS principal, min(useridentity.type), min(eventtime), max(eventtime),
        count(*), count(DISTINCT eventname), list(DISTINCT recipientaccountid ORDER BY recipientaccountid),
        list(DISTINCT sourceipaddress ORDER BY sourceipaddress), list(DISTINCT awsregion ORDER BY awsregion),
        round(avg(CASE WHEN errorcode IS NULL THEN 0.0 ELSE 1.0 END), 4)
        FROM cloudtrail GROUP BY 1""",
    "source_ips": f"""SELECT sourceipaddress, min(eventtime), max(eventtime), count(*),
        count(DISTINCT {PRINCIPAL}), sum(CASE WHEN errorcode IS NULL THEN 0 ELSE 1 END)
        FROM cloudtrail GROUP BY 1""",
    "console_logins": f"""SELECT eventtime, recipientaccountid, {PRINCIPAL}, useridentity.type, sourceipaddress,
        useragent, json_extract_string(responseelements, '$.ConsoleLogin'),
        json_extract_string(additionaleventdata, '$.MFAUsed'), errormessage, eventid
        FROM cloudtrail WHERE eventname = 'ConsoleLogin'""",
}

DUCK_SCRIPT = """
import json, sys, duckdb
files, sql, threads = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
print(len(con.execute(sql).fetchall()))
"""


def measure(argv):
    """(seconds, peak RSS in bytes, stdout) of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            sys.exit(f"{argv[:3]} failed: {err.read().decode()[-2000:]}")
        out.seek(0)
        return wall, usage.ru_maxrss * 1024, out.read().decode()


def median(runs):
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main():
    bin_, lake = sys.argv[1], sys.argv[2]
    files, con, events = open_lake(lake)
    con.close()
    print(f"lake: {lake} ({events:,} events, {len(files)} data files); median of {RUNS} runs; {THREADS} threads")
    print(f"{'view':44}{'trailhouse s':>13}{'peak MB':>9}{'duckdb s':>10}{'peak MB':>9}  rows")
    th = lambda sql, *extra: [bin_, "sql", "--lake", lake, "--format", "csv", *extra, sql]  # noqa: E731
    cases = [
        ("actors", th("SELECT * FROM actors"), DUCK["actors"]),
        ("actors --memory-limit 256MB", th("SELECT * FROM actors", "--memory-limit", "256MB"), None),
        ("actors as before issue 34 (DISTINCT sets)", th(ACTORS_BEFORE), None),
        ("source_ips", th("SELECT * FROM source_ips"), DUCK["source_ips"]),
        ("console_logins", th("SELECT * FROM console_logins"), DUCK["console_logins"]),
    ]
    results = []
    for name, argv, duck_sql in cases:
        runs = [measure(argv) for _ in range(RUNS)]
        t_th, m_th = median(runs)
        rows = len(runs[0][2].splitlines()) - 1
        line = f"{name:44}{t_th:>13.3f}{m_th / 1e6:>9.0f}"
        result = {"view": name, "trailhouse_s": t_th, "trailhouse_peak_bytes": m_th, "rows": rows}
        if duck_sql:
            druns = [measure([sys.executable, "-c", DUCK_SCRIPT, json.dumps(files), duck_sql, str(THREADS)]) for _ in range(RUNS)]
            t_dk, m_dk = median(druns)
            line += f"{t_dk:>10.3f}{m_dk / 1e6:>9.0f}"
            result.update(duckdb_s=t_dk, duckdb_peak_bytes=m_dk, duckdb_rows=int(druns[0][2]))
        else:
            line += f"{'':>19}"
        print(f"{line}  {rows}", flush=True)
        results.append(result)
    json.dump(results, open("target/bench-views.json", "w"), indent=1)


if __name__ == "__main__":
    main()
