"""The segmentation asset in the whole graph: the real `daily_refresh` job on the tiny sample, with
and without web analytics, through the gate on the candidates and the publish step."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.run import landed_days, materialize_history
from pipelines.segmentation.assets import SEGMENTS_KEY
from pipelines.segmentation.daily import PROFILE_COLUMNS, SEGMENT_COLUMNS
from pipelines.segmentation.rules import SEGMENT_TYPES
from tests.conftest import TINY_CUSTOMERS, TINY_DAYS, TINY_END, Workspace, make_workspace


def run_whole_graph() -> dg.ExecuteInProcessResult:
    days = landed_days()
    result = materialize_history(days[0], days[-1])
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success, f"steps failed: {failed}"
    return result


def gate_on_candidates(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (gate,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == SEGMENTS_KEY and e.check_name == "quality_gate"
    ]
    return gate


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    ]


def test_the_whole_graph_segments_gates_and_publishes(workspace: Workspace) -> None:
    result = run_whole_graph()

    assert gate_on_candidates(result).passed
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("customer_segments")
        if m.asset_key == SEGMENTS_KEY
    ]
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["refit"] is True and meta["refit_reason"] == "no saved model yet"
    model_path = Path(meta["model_path"])
    assert model_path.parent == workspace.data_dir / "models" / "segmentation"
    assert model_path.is_file() and model_path.with_suffix(".json").is_file()
    assert 3 <= meta["clusters_k"] <= 10 and -1 <= meta["silhouette"] <= 1
    for segment_type in (*SEGMENT_TYPES, "cluster_name"):
        assert f"| {segment_type} |" in meta["segment_sizes"]
    assert "| cluster_name | customers | share | rules |" in meta["clusters"]
    assert "| age_band |" in meta["sensitive_attributes_per_cluster"]
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        customers = con.sql("select count(*) from marts.customers").fetchall()[0][0]
        assert meta["dagster/row_count"] == customers
        # the publish step found every column it needs in the candidates
        assert set(SEGMENT_COLUMNS) <= set(columns(con, "segments.customer_segments"))
        assert set(PROFILE_COLUMNS) <= set(columns(con, "segments.segment_profiles"))
        per_type = con.sql(
            "select segment_type, sum(customers) from candidate.segment_profiles group by all"
        ).fetchall()
        assert dict(per_type) == {t: customers for t in (*SEGMENT_TYPES, "cluster_name")}
        unexplained = con.sql(
            "select count(*) from segments.segment_profiles where segment_type = 'cluster_name' "
            "and segment != 'No purchase yet' and (rules is null or feature_means is null)"
        ).fetchall()[0][0]
        assert unexplained == 0


@pytest.fixture
def no_web_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    from pipelines.sample_data import generate

    sample = tmp_path / "sample"
    generate(
        sample,
        customers=TINY_CUSTOMERS,
        days=TINY_DAYS,
        end_date=TINY_END,
        seed=7,
        include_web=False,
    )
    ws = make_workspace(tmp_path / "run", sample)
    for key, value in ws.env().items():
        monkeypatch.setenv(key, value)
    return ws


def test_a_shop_without_web_analytics_still_gets_every_segment(no_web_workspace: Workspace) -> None:
    assert not (no_web_workspace.data_dir / "incoming" / "web").exists()

    result = run_whole_graph()

    assert gate_on_candidates(result).passed
    with duckdb.connect(str(no_web_workspace.warehouse), read_only=True) as con:
        web = con.execute(
            "select web_behaviour, count(*) from segments.customer_segments group by all"
        ).fetchall()
        clustered = con.sql(
            "select count(*) from segments.customer_segments where cluster_id >= 0"
        ).fetchall()[0][0]
        customers = con.sql("select count(*) from marts.customers").fetchall()[0][0]
    assert web == [("none", customers)]
    assert clustered > 0
