"""The code location loads, and its graph is one connected graph from raw files to segments."""

from __future__ import annotations

import dagster as dg

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
