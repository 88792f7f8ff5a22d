"""The warehouse resource: a step that fails with the warehouse open does not keep it open.

No `from __future__ import annotations` here: Dagster reads the ops' resource annotations.
"""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.resources import duckdb_resource

OPEN_FOR_WRITING = "import duckdb, sys; duckdb.connect(sys.argv[1]).close(); print('opened')"


def another_process_can_write(warehouse: Path) -> str:
    """'opened', or the error another process gets opening the file for writing."""
    done = subprocess.run(
        [sys.executable, "-c", OPEN_FOR_WRITING, str(warehouse)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def test_a_step_failing_inside_get_connection_leaves_the_warehouse_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    seen_by_next_step: list[str] = []

    @dg.op
    def fails_with_the_warehouse_open(duckdb: DuckDBResource) -> None:
        with duckdb.get_connection() as con:
            con.execute("create table half_written as select 1 as a")
            raise RuntimeError("marts.customer_features holds no rows")

    @dg.op
    def runs_next() -> None:
        seen_by_next_step.append(another_process_can_write(warehouse))

    @dg.job(executor_def=dg.in_process_executor)
    def one_process() -> None:
        fails_with_the_warehouse_open()
        runs_next()

    result = one_process.execute_in_process(
        resources={"duckdb": duckdb_resource()}, raise_on_error=False
    )

    step_order = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert step_order == ["fails_with_the_warehouse_open", "runs_next"]
    assert [e.step_key for e in result.all_events if e.is_step_failure] == [
        "fails_with_the_warehouse_open"
    ]
    # the rest of the run, and anyone else, can write to the warehouse again
    assert seen_by_next_step == ["opened"]
    assert another_process_can_write(warehouse) == "opened"
