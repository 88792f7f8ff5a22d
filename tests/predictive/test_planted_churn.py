"""Churn risk on the generator's planted churners, through the real loader, dbt and the asset.

A café chain of 2,000 customers over two years is generated (ground truth in sample_truth/),
loaded by the ingest loader and built by dbt into the weekly feature history; the predictive
asset then scores every buying customer of the latest day. The planted churners (persona
`churner`: no orders, visits or tickets after their churn date) must be ranked above everyone
else: ROC AUC at least 0.8, printed.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource
from sklearn.metrics import roc_auc_score

from pipelines.predictive.assets import customer_predictions
from tests.predictive.sample_warehouse import (
    build_marts,
    load_generated_sample,
    personas_by_customer_key,
)

# Two years: churn dates fall between 30% of the window and 45 days before its end, so the
# history holds both long-gone and recent churners, and labelled weeks on both sides.
CUSTOMERS = 2000
DAYS = 730
# A fixed end date: the same sample, hence the same AUC, whatever day the test runs.
END = date(2026, 6, 30)
MIN_ROC_AUC = 0.8


def test_planted_churners_rank_above_everyone_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = load_generated_sample(tmp_path, CUSTOMERS, DAYS, END)
    build_marts(warehouse, tmp_path)

    result = dg.materialize(
        [customer_predictions], resources={"duckdb": DuckDBResource(database=str(warehouse))}
    )

    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    with duckdb.connect(str(warehouse), read_only=True) as con:
        personas = personas_by_customer_key(con, tmp_path / "data" / "sample_truth")
        scored = con.sql(
            "select customer_key, churn_probability from candidate.customer_predictions "
            "where churn_probability is not null"
        ).pl()
    scored = scored.join(personas, on="customer_key", how="inner")
    planted = (scored["persona"] == "churner").to_numpy()
    roc_auc = roc_auc_score(planted, scored["churn_probability"].to_numpy())
    by_persona = (
        scored.group_by("persona")
        .agg(customers=pl.len(), mean_churn_probability=pl.col("churn_probability").mean())
        .sort("mean_churn_probability", descending=True)
    )
    with capsys.disabled():
        print(
            f"\nplanted churners: ROC AUC {roc_auc:.3f} over {len(scored)} scored customers "
            f"({planted.sum()} planted churners); the asset's own time-based validation: "
            f"ROC AUC {metadata['churn_roc_auc'].value:.3f}, PR AUC "
            f"{metadata['churn_pr_auc'].value:.3f} as of "
            f"{metadata['churn_validation_as_of_date'].value}\n{by_persona}"
        )
    assert planted.sum() >= 100 and (~planted).sum() >= 100, "too few customers to score"
    assert roc_auc >= MIN_ROC_AUC
    # Two years are enough for every model: parameters, validation and the split are reported.
    expected_keys = {
        *(f"bgnbd_{name}" for name in ("r", "alpha", "a", "b")),
        *(f"gamma_gamma_{name}" for name in ("p", "q", "gamma")),
        "churn_roc_auc",
        "churn_pr_auc",
        "churn_calibration",
        "churn_train_first_as_of_date",
        "churn_train_last_as_of_date",
        "churn_validation_as_of_date",
        "predictive_segments",
        "churn_risk_bands",
        "value_tiers",
    }
    assert expected_keys <= set(metadata)
    assert not {"clv_skipped", "churn_skipped"} & set(metadata)
    horizon = timedelta(days=metadata["churn_horizon_days"].value)
    last_trained = date.fromisoformat(metadata["churn_train_last_as_of_date"].value)
    assert last_trained + horizon <= date.fromisoformat(
        metadata["churn_validation_as_of_date"].value
    )
