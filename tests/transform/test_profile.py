"""dbt's DuckDB connection takes its memory settings from the environment, as the README says."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.transform.dbt_runner import dbt_process


def _dbt_sees(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The memory settings of the connection `dbt show` gets from the project's profile."""
    # the defaults, whatever the shell running the tests sets, then the test's overrides
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_DUCKDB_")} | overrides
    query = (
        "select current_setting('memory_limit') as memory_limit, "
        "current_setting('block_allocator_memory') as block_allocator_memory"
    )
    args = ["show", "--inline", query, "--output", "json", "--quiet"]
    shown = dbt_process(tmp_path / "warehouse.duckdb", tmp_path, args, env)
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
