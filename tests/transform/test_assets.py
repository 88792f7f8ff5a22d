"""The dbt step as Dagster runs it: one `dbt build`, incremental unless run config asks otherwise."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.resources import dbt_resource
from pipelines.transform.assets import KEEP_DBT_RUN_FOLDERS, warehouse_models
from pipelines.transform.build_args import dbt_build_args
from tests.transform.fixture_business import write_first_load


def test_daily_run_is_incremental_and_full_refresh_is_opt_in() -> None:
    assert dbt_build_args() == ["build"]
    assert dbt_build_args(full_refresh=True) == ["build", "--full-refresh"]
    assert dbt_build_args(features_as_of_date=date(2025, 3, 10)) == [
        "build",
        "--vars",
        '{"features_as_of_date": "2025-03-10"}',
    ]


def test_full_refresh_through_dagster_rebuilds_the_feature_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_first_load(warehouse)
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
    # dbt's run artefacts for this test stay in tmp_path, not in the project's target/
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    from dagster_duckdb import DuckDBResource

    # the run folders of twenty earlier daily runs, and a folder that is not a run's
    earlier = []
    for day in range(20):
        folder = tmp_path / "target" / f"warehouse_models-{day:07d}-earlier"
        folder.mkdir(parents=True)
        os.utime(folder, (1_700_000_000 + day * 86_400,) * 2)
        earlier.append(folder)
    (tmp_path / "target" / "kept-by-someone").mkdir()

    result = dg.materialize(
        [warehouse_models],
        resources={"dbt": dbt_resource(), "duckdb": DuckDBResource(database=str(warehouse))},
        run_config={
            "ops": {
                "warehouse_models": {
                    "config": {"full_refresh": True, "features_as_of_date": "2025-03-05"}
                }
            }
        },
    )
    assert result.success
    materialized = {
        m.asset_key.to_user_string()
        for m in result.get_asset_materialization_events()
        if m.asset_key
    }
    assert {"marts/customer_features", "marts/customers", "marts/orders"} <= materialized
    with duckdb.connect(str(warehouse), read_only=True) as con:
        latest = con.execute("select max(as_of_date) from marts.customer_features").fetchone()[0]
    assert latest == date(2025, 3, 5)

    # this run's folder and the 13 newest earlier ones stay; nothing else of the target is touched
    runs = sorted(p.name for p in (tmp_path / "target").glob("warehouse_models-*"))
    (this_run,) = [name for name in runs if not name.endswith("-earlier")]
    assert len(runs) == KEEP_DBT_RUN_FOLDERS
    assert sorted(set(runs) - {this_run}) == [
        p.name for p in earlier[-(KEEP_DBT_RUN_FOLDERS - 1) :]
    ]
    assert (tmp_path / "target" / this_run / "run_results.json").is_file()
    assert (tmp_path / "target" / "kept-by-someone").is_dir()


def test_the_dbt_version_is_read_from_the_installed_package_not_from_a_dbt_process(
    tmp_path: Path,
) -> None:
    """dagster-dbt would run `<dbt_executable> --version` before each dbt command; this resource
    reads the installed dbt-core's version and starts no process for it."""
    from importlib.metadata import version

    from pipelines.resources import WarehouseDbtResource
    from pipelines.settings import DBT_PROJECT_DIR

    called = tmp_path / "called"
    stand_in = tmp_path / "dbt"
    stand_in.write_text(f"#!/bin/sh\ntouch {called}\necho 'Core: installed: 0.0.1'\n")
    stand_in.chmod(0o755)
    resource = WarehouseDbtResource(project_dir=str(DBT_PROJECT_DIR), dbt_executable=str(stand_in))

    assert str(resource._cli_version) == version("dbt-core")
    assert not called.exists(), "no dbt process was started to ask for the version"
    # the project's resource is this one, pointed at the dbt beside the interpreter
    assert isinstance(dbt_resource(), WarehouseDbtResource)
