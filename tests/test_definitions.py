"""The code location loads, and its graph is one connected graph from raw files to segments."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.definitions import defs


def test_definitions_load_and_resolve() -> None:
    defs.validate_loadable(defs)
    assert defs.resolve_job_def("daily_refresh") is not None


def test_graph_connects_ingest_to_segments() -> None:
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    segments = dg.AssetKey(["segments", "customer_segments"])
    orders_raw = dg.AssetKey(["raw", "pos_order_lines"])
    assert segments in keys
    upstream = set()
    frontier = {segments}
    while frontier:
        key = frontier.pop()
        parents = graph.get(key).parent_keys
        frontier |= parents - upstream
        upstream |= parents
    assert orders_raw in upstream, "segments must trace back to the POS ingest asset"
    assert dg.AssetKey(["marts", "customer_features"]) in upstream


def test_daily_schedule_runs_at_six() -> None:
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.cron_schedule == "0 6 * * *"


def test_the_models_are_refitted_weekly_in_a_run_of_their_own() -> None:
    """The daily run segments and predicts with saved models; the weekly `model_refit` run fits
    them, an hour before Sunday's daily run, and is the only job that selects them."""
    from pipelines.schedules import _model_refit_schedule

    models = {
        dg.AssetKey(["models", "customer_clusterer"]),
        dg.AssetKey(["models", "churn_model"]),
        dg.AssetKey(["models", "clv_model"]),
    }
    graph = defs.resolve_asset_graph()
    refit = defs.resolve_job_def("model_refit").asset_layer.selected_asset_keys
    daily = defs.resolve_job_def("daily_refresh").asset_layer.selected_asset_keys
    assert refit == models
    assert not daily & models and daily | models == graph.get_all_asset_keys()
    schedule = defs.resolve_schedule_def("model_refit_schedule")
    assert (schedule.cron_schedule, schedule.job_name) == ("0 5 * * 0", "model_refit")
    assert (
        schedule.execution_timezone
        == defs.resolve_schedule_def("daily_refresh_schedule").execution_timezone
    )
    # the daily steps that use a model show it upstream, so the UI shows them stale after a refit
    assert (
        dg.AssetKey(["models", "customer_clusterer"])
        in graph.get(dg.AssetKey(["candidate", "customer_segments"])).parent_keys
    )
    with pytest.raises(ValueError, match=r"MODEL_REFIT_CRON must be a cron line .* 'sundays'"):
        _model_refit_schedule("sundays")


def test_the_pipelines_duckdb_connections_are_capped(tmp_path, monkeypatch) -> None:
    """Without a cap DuckDB takes up to 80% of RAM for one query (6.6 GB reading the churn
    model's inputs at 1M customers); the warehouse resource passes DUCKDB_MEMORY_LIMIT on."""
    from pipelines.resources import duckdb_resource

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))

    def memory_limit() -> str:
        with (
            dg.build_resources({"duckdb": duckdb_resource()}) as built,
            built.duckdb.get_connection() as con,
        ):
            return con.sql("select current_setting('memory_limit')").fetchall()[0][0]

    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "1GiB")
    assert memory_limit() == "1.0 GiB"
    monkeypatch.delenv("DUCKDB_MEMORY_LIMIT")
    assert memory_limit() == "3.7 GiB", "the default cap is 4GB"
