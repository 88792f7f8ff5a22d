"""dbt's DuckDB connection takes its memory settings from the environment, as the README says."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pipelines.settings import DBT_PROJECT_DIR
from tests.transform.dbt_runner import DBT


def _dbt_sees(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The memory settings of the connection `dbt show` gets from the project's profile."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(
            "DBT_DUCKDB_"
        )  # the defaults, whatever the shell running the tests sets
    }
    env.update(
        overrides,
        WAREHOUSE_PATH=str(tmp_path / "warehouse.duckdb"),
        DBT_TARGET_PATH=str(tmp_path / "target"),
        DBT_LOG_PATH=str(tmp_path / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    query = (
        "select current_setting('memory_limit') as memory_limit, "
        "current_setting('block_allocator_memory') as block_allocator_memory"
    )
    args = ["show", "--inline", query, "--output", "json", "--quiet"]
    shown = subprocess.run(
        [str(DBT), *args, "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stdout[-4000:] + shown.stderr[-2000:]
    return json.loads(shown.stdout)["show"][0]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {"memory_limit": "5.5 GiB", "block_allocator_memory": "0 bytes"}),
        (
            {"DBT_DUCKDB_MEMORY_LIMIT": "2GB", "DBT_DUCKDB_BLOCK_ALLOCATOR_MEMORY": "1GB"},
            {"memory_limit": "1.8 GiB", "block_allocator_memory": "953.6 MiB"},
        ),
    ],
    ids=["defaults", "overridden"],
)
def test_dbts_duckdb_memory_settings_come_from_the_environment(
    tmp_path: Path, overrides: dict[str, str], expected: dict[str, str]
) -> None:
    assert _dbt_sees(tmp_path, **overrides) == expected
