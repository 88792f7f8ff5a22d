"""Churn model on a small generated shop with planted churners, and its point-in-time guarantee."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.predictive.churn import (
    LABEL,
    build_training_frame,
    churn_scores,
    fit_churn_model,
)
from pipelines.predictive.config import DEFAULTS
from pipelines.predictive.predict import PREDICTION_COLUMNS, customer_predictions, fit_clv_model

START = date(2025, 1, 6)
DAYS = 420


def _orders(customers: int = 300, seed: int = 7) -> pl.DataFrame:
    """Regulars buy every ~2 weeks; half of them stop for good on a random day (planted churn)."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(customers):
        rate = rng.uniform(0.04, 0.12)
        stops = rng.integers(60, DAYS) if customer % 2 == 0 else DAYS
        for day in np.flatnonzero(rng.random(stops) < rate):
            rows.append((f"c{customer:03d}", START + timedelta(int(day)), False, rng.gamma(4, 5)))
    return pl.DataFrame(
        rows, schema=["customer_key", "order_date", "is_return", "net_revenue"], orient="row"
    )


def _features_history(orders: pl.DataFrame) -> pl.DataFrame:
    """Weekly snapshots built like dbt's: a feature as of D counts only orders strictly before D."""
    as_of_dates = pl.DataFrame(
        {"as_of_date": [START + timedelta(days=d) for d in range(7, DAYS + 1, 7)]}
    )
    customers = orders.select("customer_key").unique()
    grid = customers.join(as_of_dates, how="cross")
    before = grid.join(orders, on="customer_key").filter(
        pl.col("order_date") < pl.col("as_of_date")
    )
    features = before.group_by("customer_key", "as_of_date").agg(
        frequency=pl.len(),
        frequency_90d=(pl.col("order_date") >= pl.col("as_of_date") - pl.duration(days=90)).sum(),
        recency_days=(pl.col("as_of_date") - pl.col("order_date").max()).dt.total_days(),
    )
    return (
        grid.join(features, on=["customer_key", "as_of_date"], how="left")
        .with_columns(pl.col("frequency", "frequency_90d").fill_null(0))
        .sort("as_of_date", "customer_key")
    )


@pytest.fixture(scope="module")
def shop() -> tuple[pl.DataFrame, pl.DataFrame]:
    orders = _orders()
    return _features_history(orders), orders


def test_labels_need_a_full_horizon_and_count_orders_from_the_as_of_day(shop) -> None:
    features, orders = shop
    training = build_training_frame(features, orders, horizon_days=90)
    latest = features["as_of_date"].max()
    assert training["as_of_date"].max() <= latest - timedelta(days=90)
    assert (training["frequency"] > 0).all()
    row = training.row(0, named=True)
    window = orders.filter(
        (pl.col("customer_key") == row["customer_key"])
        & (pl.col("order_date") >= row["as_of_date"])
        & (pl.col("order_date") < row["as_of_date"] + timedelta(days=90))
    )
    assert row[LABEL] == (window.height == 0)


def test_future_orders_change_labels_but_never_features(shop) -> None:
    features, orders = shop
    as_of = START + timedelta(days=175)
    # Tomorrow's world rewritten: every order from the as-of day on dropped, one new buyer added.
    perturbed = pl.concat(
        [
            orders.filter(pl.col("order_date") < as_of),
            pl.DataFrame(
                {
                    "customer_key": ["c001"],
                    "order_date": [as_of + timedelta(days=3)],
                    "is_return": [False],
                    "net_revenue": [12.0],
                }
            ),
        ]
    )
    original = build_training_frame(features, orders, 90).filter(pl.col("as_of_date") == as_of)
    changed = build_training_frame(features, perturbed, 90).filter(pl.col("as_of_date") == as_of)
    feature_cols = [c for c in original.columns if c != LABEL]
    assert original.select(feature_cols).equals(changed.select(feature_cols))
    assert not original[LABEL].equals(changed[LABEL])
    assert changed.filter(pl.col("customer_key") == "c001")[LABEL].to_list() == [False]
    # Rows of the as-of dates themselves come from the history, not from the orders.
    assert features.filter(pl.col("as_of_date") == as_of).equals(
        _features_history(orders).filter(pl.col("as_of_date") == as_of)
    )


def test_planted_churners_are_ranked_first(shop) -> None:
    features, orders = shop
    result = fit_churn_model(features, orders, DEFAULTS["churn"])
    print(f"planted churn: validation {result.validation}")
    assert result.validation["roc_auc"] >= 0.8
    assert 0 < result.validation["pr_auc"] <= 1
    calibration = result.calibration
    assert (
        calibration is not None
        and calibration["rows"].sum() == result.validation["validation_rows"]
    )
    # The top decile of predicted risk churns far more than the bottom decile.
    assert calibration["observed_rate"][-1] > calibration["observed_rate"][0] + 0.3


def test_churn_scores_cover_buyers_on_the_latest_day_with_bands(shop) -> None:
    features, orders = shop
    config = {
        **DEFAULTS,
        "churn": {**DEFAULTS["churn"], "risk_bands": {"medium_from": 0.3, "high_from": 0.6}},
    }
    scores = churn_scores(features, orders, config)
    latest = features.filter(pl.col("as_of_date") == features["as_of_date"].max())
    assert scores.height == latest.filter(pl.col("frequency") > 0).height
    assert scores["churn_probability"].is_between(0, 1).all()
    expected_band = (
        pl.when(pl.col("churn_probability") >= 0.6)
        .then(pl.lit("high"))
        .when(pl.col("churn_probability") >= 0.3)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )
    assert scores["churn_risk_band"].equals(
        scores.select(expected_band)["literal"], check_names=False
    )


def test_customer_predictions_give_every_latest_customer_one_row(shop) -> None:
    features, orders = shop
    latest_day = features["as_of_date"].max()
    newcomer = (
        features.filter(pl.col("as_of_date") == latest_day)
        .head(1)
        .with_columns(
            customer_key=pl.lit("signed_up_never_bought"),
            frequency=0,
            frequency_90d=0,
            recency_days=None,
        )
    )
    history = pl.concat([features, newcomer], how="vertical_relaxed")
    predictions = customer_predictions(history, orders, DEFAULTS)
    customers = predictions.customers
    assert customers.columns == PREDICTION_COLUMNS
    assert customers.height == customers["customer_key"].n_unique() == 301
    assert (customers["as_of_date"] == latest_day).all()
    never = customers.filter(pl.col("customer_key") == "signed_up_never_bought").row(0, named=True)
    assert never["predictive_segment"] == "No purchase yet" and never["clv_12m"] is None
    buyers = customers.filter(pl.col("customer_key") != "signed_up_never_bought")
    assert buyers.select(PREDICTION_COLUMNS).null_count().sum_horizontal()[0] == 0
    at_risk = buyers.filter(pl.col("predictive_segment") == "High value at risk")
    assert (at_risk["value_tier"] == "High").all() and (at_risk["churn_risk_band"] == "high").all()
    lost = buyers.filter(pl.col("predictive_segment") == "Likely lost")
    assert (lost["p_alive"] < 0.3).all()
    # Planted churners (even numbers) stopped buying: they are far less likely alive.
    planted = pl.col("customer_key").str.slice(1).cast(pl.Int64) % 2 == 0
    assert buyers.filter(planted)["p_alive"].mean() < buyers.filter(~planted)["p_alive"].mean()
    assert set(predictions.clv_parameters) >= {"bgnbd_r", "gamma_gamma_q"}


def test_a_clv_fit_made_for_the_day_scores_the_day_with_its_own_predictions(shop) -> None:
    # A daily run that fits CLV itself (the first build, a late weekly refit) writes the fit's
    # own predictions instead of summarising and predicting the day a second time: they must be
    # what scoring the day with the fitted model gives.
    features, orders = shop
    latest_day = features["as_of_date"].max()
    fit = fit_clv_model(orders, latest_day, DEFAULTS["clv"])
    assert fit.model is not None and fit.model.fitted_as_of == latest_day
    assert fit.note.startswith("fitted on 300 customers' purchases before")
    churn = customer_predictions(features, orders, DEFAULTS).churn_model

    reused = customer_predictions(features, orders, DEFAULTS, churn, fit)
    scored = customer_predictions(features, orders, DEFAULTS, churn, fit.model)

    assert reused.clv_model is fit.model and reused.clv_skipped is None
    key = ["customer_key"]
    assert reused.customers.sort(key).equals(scored.customers.sort(key))
    assert reused.customers["clv_12m"].is_not_null().sum() == 300

    a_week_old = fit_clv_model(orders, latest_day - timedelta(days=7), DEFAULTS["clv"])
    with pytest.raises(
        ValueError, match=f"predictions for {latest_day}.*not {a_week_old.model.fitted_as_of}"
    ):
        customer_predictions(features, orders, DEFAULTS, churn, a_week_old)


def test_a_long_history_trains_on_a_sample_of_the_configured_size(shop) -> None:
    features, orders = shop
    config = {**DEFAULTS["churn"], "max_training_rows": 2000}
    result = fit_churn_model(features, orders, config)
    assert result.validation["train_rows"] == 2000
    assert result.validation["roc_auc"] >= 0.75


def test_the_same_history_in_another_row_order_trains_the_same_model(shop) -> None:
    # the warehouse returns rows in no fixed order; a sample taken by position must not care
    features, orders = shop
    config = {**DEFAULTS["churn"], "max_training_rows": 2000}
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=3)

    first = fit_churn_model(features, orders, config)
    second = fit_churn_model(shuffled, orders.sample(fraction=1.0, shuffle=True, seed=4), config)

    assert second.validation == first.validation
    key = ["customer_key", "as_of_date"]
    assert second.scores.sort(key).equals(first.scores.sort(key))


def test_a_history_shorter_than_the_horizon_scores_nobody_and_says_why(shop) -> None:
    features, orders = shop
    young = features.filter(pl.col("as_of_date") < START + timedelta(days=80))
    result = fit_churn_model(young, orders, DEFAULTS["churn"])
    assert "not trained" in result.validation["skipped"]
    assert result.scores.height > 0
    assert result.scores["churn_probability"].is_null().all()
