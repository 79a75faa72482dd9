"""Reads a trailhouse lake and an export with tools that share no code with trailhouse's
query path: the Python `deltalake` package for the Delta log, DuckDB for the Parquet.

usage: independent_reader.py LAKE_TABLE_DIR EXPORT_DIR   -> one JSON object on stdout
       independent_reader.py --tables LAKE_DIR            -> {table: rows} for every Delta
                                                             table in the lake, each file read
"""
import json
import os
import sys

import duckdb
from deltalake import DeltaTable


def main(table_dir: str, export_dir: str) -> None:
    dt = DeltaTable(table_dir)
    files = dt.file_uris()
    con = duckdb.connect()
    lake_rows = con.execute("SELECT count(*) FROM read_parquet($files)", {"files": files}).fetchone()[0]
    # The partition column lives in the Delta log, not in the files: take names from the log.
    lake_columns = [f.name for f in dt.schema().fields]
    glob = export_dir.rstrip("/") + "/**/*.parquet"
    export_rows = con.execute("SELECT count(*) FROM read_parquet($g, hive_partitioning = true)", {"g": glob}).fetchone()[0]
    export_columns = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet($g, hive_partitioning = true)", {"g": glob}).fetchall()]
    json.dump(
        {
            "delta_version": dt.version(),
            "lake_files": len(files),
            "lake_rows": lake_rows,
            "lake_columns": lake_columns,
            "export_rows": export_rows,
            "export_columns": export_columns,
        },
        sys.stdout,
    )


def tables(lake_dir: str) -> None:
    """Every Delta table under the lake, each of its files read (a file the log names but
    storage lacks fails the read)."""
    con = duckdb.connect()
    rows = {}
    for name in sorted(os.listdir(lake_dir)):
        path = os.path.join(lake_dir, name)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            continue
        files = DeltaTable(path).file_uris()
        rows[name] = con.execute("SELECT count(*) FROM read_parquet($files)", {"files": files}).fetchone()[0] if files else 0
    json.dump(rows, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "--tables":
        tables(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2])
