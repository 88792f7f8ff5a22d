"""A read-only DuckDB dialect for Great Expectations' SQL datasource (`duckdb+readonly:///<path>`).

duckdb-engine's dialect as is, except that it never begins, commits or rolls back: with
great-expectations 1.24 and SQLAlchemy 2.1, GX reads each metric query's rows after its connection
has been closed, and the rollback on close makes DuckDB drop that pending result, so every metric
came back empty (fivetran/great_expectations#11579). The connections are opened read-only, so there
is nothing to commit or roll back.
"""

from __future__ import annotations

from typing import Any

import duckdb_engine
from sqlalchemy.dialects import registry

DRIVER_NAME = "duckdb.readonly"


class ReadOnlyDuckDBDialect(duckdb_engine.Dialect):
    supports_statement_cache = False

    def do_begin(self, dbapi_connection: Any) -> None:
        # read-only: DuckDB runs each statement in its own transaction
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_rollback(self, dbapi_connection: Any) -> None:
        # a rollback here would discard the result GX has not fetched yet
        pass


def readonly_url(database: str) -> str:
    """The SQLAlchemy URL GX connects with; the file is opened read-only via connect_args."""
    return f"duckdb+readonly:///{database}"


registry.register(DRIVER_NAME, __name__, "ReadOnlyDuckDBDialect")
