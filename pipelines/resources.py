"""Resources, declared once and injected by key.

- `duckdb`: the warehouse. Connections are opened per use (`with duckdb.get_connection() as con`)
  and closed straight away, also when the block raises: DuckDB allows one writing process per file.
- `dbt`: the dbt CLI, running the project in `dbt_project/` against the same file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from packaging.version import Version

from pipelines.settings import DBT_PROJECT_DIR, duckdb_config, get_paths

# One pool for every step that opens the warehouse; `.dagster/dagster.yaml` limits it to 1.
WAREHOUSE_POOL = "warehouse"


class WarehouseResource(DuckDBResource):
    """dagster-duckdb's resource, but the connection is closed when the `with` block raises too.

    dagster-duckdb closes it only after a clean exit; after an error the open connection stays
    referenced from the exception's traceback, which Dagster keeps, so the file stayed open for
    writing in the run's process after a failed step, for the rest of the run and beyond.
    """

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().get_connection() as con:
            try:
                yield con
            finally:
                con.close()


def duckdb_resource() -> DuckDBResource:
    # Read when a run starts, so a test or the benchmark can point a run at another file.
    os.environ.setdefault("WAREHOUSE_PATH", str(get_paths().warehouse))
    return WarehouseResource(
        database=dg.EnvVar("WAREHOUSE_PATH"), connection_config=duckdb_config()
    )


class WarehouseDbtResource(DbtCliResource):
    """dagster-dbt's resource, without running `dbt --version` before every dbt command.

    dagster-dbt asks the executable for its version in a subprocess of its own on each run: dbt's
    start-up (about 3 s at every size of shop, before the dbt step's real work), and dbt then
    looks up its latest release on PyPI, which a shop's server without internet waits for. The
    executable is the dbt installed beside this interpreter (`dbt_resource`), so its version is
    the installed dbt-core's.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))


def dbt_resource() -> DbtCliResource:
    # the dbt installed beside this interpreter, so nothing depends on an activated virtualenv
    return WarehouseDbtResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
