"""DuckDB turning the same CloudTrail files into zstd Parquet (see e2e.sh).

usage: duckdb_ingest.py CORPUS_DIR OUT_DIR     prints "seconds rows"

read_json (schema sniffed from a sample; union_by_name over thousands of heterogeneous
files ran out of 19 GB of memory) + unnest(Records) + COPY ... PARTITION_BY (eventdate).
"""
import sys, time, duckdb, shutil, os
corpus, out = sys.argv[1], sys.argv[2]
shutil.rmtree(out, ignore_errors=True)
os.makedirs(os.path.dirname(out.rstrip("/")) or ".", exist_ok=True)
t = time.perf_counter()
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute(f"""
COPY (
  SELECT r.*, CAST(left(CAST(r.eventTime AS VARCHAR), 10) AS DATE) AS eventdate
  FROM (SELECT unnest(Records) AS r
        FROM read_json('{corpus}/**/*.json.gz', maximum_object_size = 33554432))
) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (eventdate))
""")
n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchone()[0]
print(f"{time.perf_counter() - t:.2f} {n}")
