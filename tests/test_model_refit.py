"""The weekly `model_refit` run on the tiny sample's whole graph: it fits the clustering, churn and
CLV models again in a run of its own, and the daily run after it segments and predicts with those
models instead of fitting its own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.definitions import defs
from pipelines.predictive.config import load_predictive_config
from pipelines.run import landed_days
from tests.conftest import Workspace
from tests.segmentation.test_assets import run_whole_graph

CLUSTERER = dg.AssetKey(["models", "customer_clusterer"])
CHURN = dg.AssetKey(["models", "churn_model"])
CLV = dg.AssetKey(["models", "clv_model"])
SEGMENTS = dg.AssetKey(["candidate", "customer_segments"])
PREDICTIONS = dg.AssetKey(["candidate", "customer_predictions"])


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _run(job: str, **options: Any) -> dg.ExecuteInProcessResult:
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False, **options
        )
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success, f"{job}: steps failed: {failed}"
    return result


def test_the_weekly_refit_saves_the_models_the_next_daily_run_uses(workspace: Workspace) -> None:
    history = run_whole_graph()
    daily_segments = _metadata(history, SEGMENTS)
    assert daily_segments["refit_reason"] == "no saved model yet"
    models = workspace.data_dir / "models"
    saved_before = {p.name for p in models.rglob("*.joblib")}

    refit = _run("model_refit")
    assert {e.asset_key for e in refit.get_asset_materialization_events()} == {
        CLUSTERER,
        CHURN,
        CLV,
    }, "the refit run fits the three models and touches nothing the daily run writes"
    clusterer, churn, clv = (_metadata(refit, key) for key in (CLUSTERER, CHURN, CLV))
    as_of = daily_segments["as_of_date"]
    assert clusterer["as_of_date"] == churn["as_of_date"] == clv["as_of_date"] == as_of
    assert clusterer["refit"] is True
    assert clusterer["refit_reason"] == (
        f"refitted on the latest features, matched to {daily_segments['model_version']}"
    )
    assert clusterer["model_version"] != daily_segments["model_version"]
    assert clusterer["clusters_k"] == daily_segments["clusters_k"], "same data, same grouping"
    # The tiny sample is a young shop: too short a history to label churn, too few repeat
    # customers for CLV. The run says so and saves no model for them (tests/predictive covers both).
    assert churn["churn_model"] == "not trained; the saved model, if any, stays in use"
    assert churn["churn_skipped"].startswith("not trained: needs labelled rows of both kinds")
    # how many of the tiny sample's customers bought twice depends on the day it ends (today)
    fewer = re.fullmatch(
        r"not fitted: (\d+) customers with a repeat purchase before \S+, at least (\d+) needed "
        r"\(clv.min_repeat_customers\); the saved model, if any, stays in use",
        clv["clv_model"],
    )
    assert fewer is not None, clv["clv_model"]
    assert int(fewer[1]) < int(fewer[2]) == load_predictive_config()["clv"]["min_repeat_customers"]
    new_files = {p.name for p in models.rglob("*.joblib")} - saved_before
    assert new_files == {Path(clusterer["model_path"]).name}

    # The next morning's daily run (the same landed day again) uses the three refitted models.
    last = landed_days()[-1].isoformat()
    daily = _run("daily_refresh", partition_key=last)
    segments, predictions = _metadata(daily, SEGMENTS), _metadata(daily, PREDICTIONS)
    assert segments["refit_reason"] == "saved model is 0 days old (refit every 7)"
    assert segments["refit"] is False
    assert segments["model_version"] == clusterer["model_version"]
    assert "clv_skipped" in predictions and "churn_skipped" in predictions
    assert {p.name for p in models.rglob("*.joblib")} - saved_before == new_files
