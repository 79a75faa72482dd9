"""Reads a trailhouse lake and an export with tools that share no code with trailhouse's
query path: the Python `deltalake` package for the Delta log, DuckDB for the Parquet.

usage: independent_reader.py LAKE_TABLE_DIR EXPORT_DIR   -> one JSON object on stdout
"""
import json
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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
