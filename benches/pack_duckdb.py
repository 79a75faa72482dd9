"""The detection pack's SQL in DuckDB over the same Parquet files (see detect.sh).

usage: pack_duckdb.py LAKE_DIR RULES_DIR

Every rule's SQL runs as trailhouse runs it for `detect --all` (`events` and `history` are
the whole table; the engine's wrapper adds `principal`), its result materialised in a DuckDB temp table. The
functions trailhouse adds are DuckDB macros: datafusion-functions-json's json_get_* (any number of
keys) as json_extract*, date_bin as time_bucket, principal() as a CASE over the identity type, cidr_match/is_private_ip as
regular expressions (DuckDB's inet extension is not in the wheel). Prints one JSON object.
"""
import json
import re
import pathlib
import sys
import time
import tomllib

import duckdb
from deltalake import DeltaTable

MACROS = r"""
CREATE MACRO jp(k) AS CASE WHEN typeof(k) IN ('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT')
  THEN '[' || CAST(k AS VARCHAR) || ']' ELSE '."' || CAST(k AS VARCHAR) || '"' END;
CREATE MACRO json_get_str(j, a) AS json_extract_string(j, '$' || jp(a)),
  (j, a, b) AS json_extract_string(j, '$' || jp(a) || jp(b)),
  (j, a, b, c) AS json_extract_string(j, '$' || jp(a) || jp(b) || jp(c)),
  (j, a, b, c, d) AS json_extract_string(j, '$' || jp(a) || jp(b) || jp(c) || jp(d));
CREATE MACRO json_get_int(j, a) AS TRY_CAST(json_get_str(j, a) AS BIGINT),
  (j, a, b) AS TRY_CAST(json_get_str(j, a, b) AS BIGINT),
  (j, a, b, c) AS TRY_CAST(json_get_str(j, a, b, c) AS BIGINT);
CREATE MACRO json_get_bool(j, a) AS TRY_CAST(json_get_str(j, a) AS BOOLEAN),
  (j, a, b) AS TRY_CAST(json_get_str(j, a, b) AS BOOLEAN),
  (j, a, b, c) AS TRY_CAST(json_get_str(j, a, b, c) AS BOOLEAN);
CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p);
CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p), (s, p, f) AS regexp_matches(s, p, f);
CREATE MACRO date_bin(i, t) AS time_bucket(i, t), (i, t, o) AS time_bucket(i, t, o);
CREATE MACRO arn_account(a) AS nullif(split_part(a, ':', 5), '');
CREATE MACRO cidr_match(ip, c) AS CASE WHEN c LIKE '%:%' THEN ip LIKE '%:%' ELSE regexp_matches(ip, '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$') END;
CREATE MACRO is_private_ip(ip) AS regexp_matches(ip, '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|f[cd])');
CREATE MACRO principal(u) AS CASE u.type
  WHEN 'Root' THEN 'root@' || coalesce(u.accountid, '?')
  WHEN 'IAMUser' THEN coalesce(u.username, split_part(u.arn, 'user/', 2))
  WHEN 'AssumedRole' THEN split_part(u.arn, 'assumed-role/', 2)
  WHEN 'FederatedUser' THEN 'federated:' || split_part(u.arn, 'federated-user/', 2)
  WHEN 'AWSService' THEN u.invokedby
  WHEN 'AWSAccount' THEN 'account:' || u.accountid
  WHEN 'IdentityCenterUser' THEN 'identitycenter:' || coalesce(u.username, u.onbehalfof.userid)
  ELSE coalesce(u.invokedby, u.username, u.arn, u.principalid, u.accountid) END;
"""


def main():
    lake, rules_dir = sys.argv[1], pathlib.Path(sys.argv[2])
    files = DeltaTable(f"{lake}/cloudtrail").file_uris()
    rules = [tomllib.loads(p.read_text()) for p in sorted(rules_dir.glob("*.toml"))]
    started = time.perf_counter()
    con = duckdb.connect()
    for stmt in MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
    con.execute("CREATE VIEW history AS SELECT * FROM events")
    per_rule, failed, rows = {}, {}, 0
    for r in rules:
        sql = r["sql"].strip().rstrip(";")
        if not re.search(r"\b(events|history)\b", sql):
            # A rule over the lake's own records (log file integrity), not over events:
            # nothing to compare in a folder of Parquet.
            continue
        t = time.perf_counter()
        try:
            # A rule's baselines, as `detect --all` builds them: aggregated over `history`.
            for b in r.get("baseline", []):
                keys = sorted(b["keys"])
                exprs = ", ".join(f"CAST({b['keys'][k]} AS VARCHAR) AS {k}" for k in keys)
                where = f" WHERE {b['where']}" if "where" in b else ""
                not_null = " AND ".join(f"{k} IS NOT NULL" for k in keys)
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {b['name']} AS SELECT {', '.join(keys)}, min(eventtime) AS first_seen, "
                    f"max(eventtime) AS last_seen FROM (SELECT {exprs}, eventtime FROM history{where}) s "
                    f"WHERE {not_null} GROUP BY ALL")
            # Materialised inside DuckDB (every column, as the engine needs them), not
            # converted to Python objects.
            con.execute(f"CREATE OR REPLACE TEMP TABLE matched_rows AS SELECT principal(useridentity) AS principal, matched.* FROM ({sql}) AS matched")
            rows += con.execute("SELECT count(*) FROM matched_rows").fetchone()[0]
            per_rule[r["id"]] = round(time.perf_counter() - t, 3)
        except duckdb.Error as e:
            failed[r["id"]] = str(e).splitlines()[0][:200]
    total = time.perf_counter() - started
    print(json.dumps({"rules": len(rules), "ran": len(per_rule), "failed": failed, "matched_rows": rows,
                      "seconds": round(total, 3), "slowest": sorted(per_rule.items(), key=lambda kv: -kv[1])[:5]}))


if __name__ == "__main__":
    main()
