"""One real run of every asset on the tiny sample, as `make run` does it, then the next morning's
daily run, as the schedule does it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from pipelines.definitions import defs
from pipelines.publish.config import load_publishing_config
from pipelines.publish.tables import PUBLISHED_TABLES
from pipelines.run import landed_days, materialize_history, segment_summary

# every segment type publishing promises: rule-based, clusters and predictive
SEGMENT_TYPES = load_publishing_config().segment_types
RAW_TABLES = ("crm_contacts", "crm_tickets", "pos_order_lines", "web_events")


def _snapshot(con: duckdb.DuckDBPyConnection) -> dict:
    """What a second run of the same day must leave exactly as it was."""
    return {
        "raw": {
            t: con.execute(f"select count(*) from raw.{t}").fetchall()[0][0] for t in RAW_TABLES
        },
        "quarantine": con.execute("select count(*) from raw.quarantine").fetchall()[0][0],
        "segments": con.sql(
            "select customer_key, rfm_segment, cluster_id, cluster_name, predictive_segment "
            "from segments.customer_segments order by customer_key"
        ).fetchall(),
        "publication": con.execute("select as_of_date from segments.publication").fetchall()[0][0],
    }


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)
    ]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def test_full_history_publishes_every_table_then_a_rerun_changes_nothing(workspace) -> None:
    days = landed_days()
    assert days, "the sample landed no files"

    result = materialize_history(days[0], days[-1], every_asset=True)

    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success, f"failed steps: {failed}"
    # every asset of the code location, the weekly job's models too: none is left "never
    # materialized" in the UI
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    every_asset = defs.resolve_implicit_global_asset_job_def().asset_layer.selected_asset_keys
    assert materialized == every_asset
    # the models are fitted once, by their own assets, and the segmentation uses that model
    clusterer = _metadata(result, ["models", "customer_clusterer"])
    segmentation = _metadata(result, ["candidate", "customer_segments"])
    assert clusterer["refit"] is True and segmentation["refit"] is False
    assert segmentation["model_version"] == clusterer["model_version"]
    model_files = sorted(p.name for p in (workspace.data_dir / "models").rglob("*.joblib"))
    assert model_files == [Path(clusterer["model_path"]).name]
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        customers = con.execute("select count(*) from marts.customers").fetchall()[0][0]
        segments = con.sql("select * from segments.customer_segments").pl()
        table_rows = {
            t: con.execute(f"select count(*) from segments.{t}").fetchall()[0][0]
            for t in PUBLISHED_TABLES
        }
        published_as_of = con.execute("select as_of_date from segments.publication").fetchall()[0][
            0
        ]
        quarantined = Counter(
            dict(con.sql("select reason, count(*) from raw.quarantine group by reason").fetchall())
        )
        first = _snapshot(con)

    # one row per customer of the sample, every segment type filled in for everyone
    assert customers > 0
    assert segments.height == segments["customer_key"].n_unique() == customers
    assert segments["as_of_date"].n_unique() == 1
    assert segments["as_of_date"][0] == published_as_of
    for column in SEGMENT_TYPES:
        assert column in segments.columns, f"segments.customer_segments lacks {column}"
    for column in ("rfm_segment", "lifecycle_stage", "cluster_name", "predictive_segment"):
        assert segments[column].null_count() == 0, f"{column} is null for some customers"
    # the tiny shop (60 days, 200 customers) is too young for CLV and churn models: their
    # columns are published empty and the predictive asset says why; every buyer is grouped
    buyers = segments.filter(pl.col("cluster_id") >= 0)
    assert buyers.height > 0 and "clv_12m" in segments.columns
    empty = [t for t, n in table_rows.items() if n == 0 and t != "segment_changes"]
    assert not empty, f"published tables without rows: {empty}"

    # every planted defect is quarantined with its reason, and nothing else is
    truth = pl.read_parquet(workspace.data_dir / "sample_truth" / "defects.parquet")
    planted = Counter(
        dict(
            truth.filter(pl.col("expected_reason").is_not_null())
            .group_by("expected_reason")
            .len()
            .iter_rows()
        )
    )
    assert quarantined == planted

    summary = segment_summary()
    assert f"Segments as of {published_as_of}" in summary
    assert "RFM segment" in summary and "Predictive segment" in summary

    # the next morning's schedule re-runs the latest day: nothing is duplicated or renamed
    rerun = materialize_history(days[-1], days[-1])

    assert rerun.success
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        assert _snapshot(con) == first
