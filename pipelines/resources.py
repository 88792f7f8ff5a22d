"""Resources, declared once and injected by key.

- `duckdb`: the warehouse. Connections are opened per use (`with duckdb.get_connection() as con`)
  and closed straight away: DuckDB allows one writing process per file.
- `dbt`: the dbt CLI, running the project in `dbt_project/` against the same file.
"""

from __future__ import annotations

from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from pipelines.settings import DBT_PROJECT_DIR, get_paths

# One pool for every step that opens the warehouse; `.dagster/dagster.yaml` limits it to 1.
WAREHOUSE_POOL = "warehouse"


def duckdb_resource() -> DuckDBResource:
    return DuckDBResource(database=str(get_paths().warehouse))


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=str(DBT_PROJECT_DIR))
