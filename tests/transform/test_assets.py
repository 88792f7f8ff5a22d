"""The dbt step as Dagster runs it: one `dbt build`, incremental unless run config asks otherwise."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.resources import dbt_resource
from pipelines.transform.assets import warehouse_models
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
