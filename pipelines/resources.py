"""Resources, declared once and injected by key.

- `duckdb`: the warehouse. Connections are opened per use (`with duckdb.get_connection() as con`)
  and closed straight away: DuckDB allows one writing process per file.
- `dbt`: the dbt CLI, running the project in `dbt_project/` against the same file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from pipelines.settings import DBT_PROJECT_DIR, duckdb_config, get_paths

# One pool for every step that opens the warehouse; `.dagster/dagster.yaml` limits it to 1.
WAREHOUSE_POOL = "warehouse"


def duckdb_resource() -> DuckDBResource:
    # Read when a run starts, so a test or the benchmark can point a run at another file.
    os.environ.setdefault("WAREHOUSE_PATH", str(get_paths().warehouse))
    return DuckDBResource(database=dg.EnvVar("WAREHOUSE_PATH"), connection_config=duckdb_config())


def dbt_resource() -> DbtCliResource:
    # the dbt installed beside this interpreter, so nothing depends on an activated virtualenv
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
