"""What the warehouse holds, asked of DuckDB's `information_schema`: shared by every stage."""

from __future__ import annotations

import duckdb


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether `schema.table` exists (a table or a view) in the connected database."""
    schema, name = qualified.split(".")
    # fetchall: DuckDB 2 keeps a partly fetched execute() result open on the connection
    (found,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(found[0])


def table_columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    """The columns of `schema.table`, in table order (empty when it does not exist)."""
    schema, name = qualified.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return [row[0] for row in rows]
