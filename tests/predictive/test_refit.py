"""The models' cadence through the asset: the churn model and the CLV fit are made once, saved and
reused until they are due."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.predictive.assets import (
    CHURN_MODEL_KEY,
    CLV_MODEL_KEY,
    MODEL_SUBFOLDER,
    PREDICTIONS_TABLE,
    PredictionsConfig,
    customer_predictions,
    fitted_clv_model,
    trained_churn_model,
)
from pipelines.predictive.clv import ClvModel, clv_from_summary, purchase_summary
from pipelines.predictive.store import (
    CLV_PREFIX,
    PREFIX,
    latest_churn_model,
    latest_clv_model,
    load_churn_model,
    load_clv_model,
)
from pipelines.settings import get_paths
from tests.predictive.test_assets import write_marts
from tests.predictive.test_churn import _features_history, _orders

KEY = dg.AssetKey(["candidate", "customer_predictions"])


@pytest.fixture(scope="module")
def history() -> tuple[pl.DataFrame, pl.DataFrame]:
    """300 customers' weekly snapshots over 420 days, with the orders behind them."""
    orders = _orders()
    return _features_history(orders), orders


def _run(warehouse: Path, force_refit: bool = False) -> tuple[dict, pl.DataFrame]:
    result = dg.materialize(
        [customer_predictions],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        run_config=dg.RunConfig(
            {"candidate__customer_predictions": PredictionsConfig(force_refit=force_refit)}
        ),
    )
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == KEY]
    metadata = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        predictions = con.sql(f"select * from {PREDICTIONS_TABLE}").pl()
    return metadata, predictions


def _next_day(features: pl.DataFrame, days: int) -> pl.DataFrame:
    """The history plus a snapshot `days` after its latest one (the latest rows, re-dated)."""
    latest = features["as_of_date"].max()
    extra = features.filter(pl.col("as_of_date") == latest).with_columns(
        as_of_date=pl.lit(latest + timedelta(days=days))
    )
    return pl.concat([features, extra])


def test_the_churn_model_is_trained_weekly_and_scores_the_days_between(
    history: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    features, orders = history
    warehouse = tmp_path / "warehouse.duckdb"
    folder = get_paths().models / MODEL_SUBFOLDER

    first, _ = _run(write_marts(warehouse, features, orders))
    assert first["churn_model"] == "trained on this run: no saved model yet"
    assert first["churn_model_trained_as_of"] == str(features["as_of_date"].max())
    assert first["feature_rows_read"] > features["customer_key"].n_unique()
    saved = latest_churn_model(folder)
    assert saved is not None and Path(first["churn_model_path"]) == saved[0]

    # Three days later the saved model scores the latest day; nothing else is read.
    three_days_on = _next_day(features, 3)
    second, predictions = _run(write_marts(warehouse, three_days_on, orders))
    assert second["churn_model"] == "saved model used: saved model is 3 days old (refit every 7)"
    assert second["churn_model_trained_as_of"] == first["churn_model_trained_as_of"]
    assert second["churn_roc_auc"] == first["churn_roc_auc"]
    latest = three_days_on.filter(pl.col("as_of_date") == three_days_on["as_of_date"].max())
    assert second["feature_rows_read"] == latest.height
    expected = load_churn_model(saved[0]).score(latest, {"risk_bands": _bands()})
    scored = predictions.join(expected, on="customer_key", suffix="_saved")
    assert scored.height == expected.height > 0
    assert (scored["churn_probability"] == scored["churn_probability_saved"]).all()

    # A week after the training day the model is due, and its refit is the weekly model_refit
    # run's; a day later, with no such run, the daily run trains it itself.
    week_on = _next_day(features, 7)
    third, _ = _run(write_marts(warehouse, week_on, orders))
    assert third["churn_model"] == (
        "saved model used: saved model is 7 days old (refit every 7, by the model_refit run)"
    )
    eight_days_on = _next_day(features, 8)
    fourth, _ = _run(write_marts(warehouse, eight_days_on, orders))
    assert fourth["churn_model"] == (
        "trained on this run: saved model is 8 days old (refit every 7), "
        "and the model_refit run has not refitted it"
    )
    assert fourth["churn_model_trained_as_of"] == str(eight_days_on["as_of_date"].max())
    assert len(list(folder.glob(f"{PREFIX}*.joblib"))) == 2


def test_a_forced_refit_keeps_the_earlier_model_and_gone_columns_force_one(
    history: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    features, orders = history
    warehouse = write_marts(tmp_path / "warehouse.duckdb", features, orders)
    folder = get_paths().models / MODEL_SUBFOLDER

    _run(warehouse)
    forced, _ = _run(warehouse, force_refit=True)
    assert forced["churn_model"] == (
        "trained on this run: refit requested; otherwise saved model is 0 days old (refit every 7)"
    )
    assert len(list(folder.glob(f"{PREFIX}*.joblib"))) == 2, "the morning's model is kept"

    # The features lose a column the saved model reads: it cannot score, so it is retrained.
    renamed = _next_day(features, 1).drop("frequency_90d")
    changed, predictions = _run(write_marts(warehouse, renamed, orders))
    assert changed["churn_model"] == (
        "trained on this run: the saved model reads columns now gone: ['frequency_90d']"
    )
    assert "frequency_90d" not in load_churn_model(latest_churn_model(folder)[0]).columns
    assert predictions["churn_probability"].is_not_null().sum() > 0


def test_a_due_refit_that_cannot_be_fitted_keeps_the_saved_models_in_use(
    history: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    """Eight days after the models were fitted, with no model_refit run in between, the daily run
    refits them. If today's data cannot train churn or fit CLV, yesterday's models still score."""
    features, orders = history
    warehouse = tmp_path / "warehouse.duckdb"
    folder = get_paths().models / MODEL_SUBFOLDER
    first, _ = _run(write_marts(warehouse, features, orders))
    saved_churn, saved_clv = latest_churn_model(folder), latest_clv_model(folder)

    # The day's marts hold one snapshot and two weeks of orders (say, after a reload went
    # wrong): no labelled rows to train churn on, too few repeat customers to fit CLV.
    eight_days_on = _next_day(features, 8)
    only_latest = eight_days_on.filter(pl.col("as_of_date") == eight_days_on["as_of_date"].max())
    recent = orders.filter(pl.col("order_date") > orders["order_date"].max() - timedelta(days=14))
    due, predictions = _run(write_marts(warehouse, only_latest, recent))

    overdue = (
        "saved model is 8 days old (refit every 7), and the model_refit run has not refitted it"
    )
    assert due["churn_model"].startswith(
        f"saved model used: a new one was due ({overdue}) but not trained: "
        "needs labelled rows of both kinds"
    )
    assert due["churn_model_trained_as_of"] == first["churn_model_trained_as_of"]
    assert Path(due["churn_model_path"]) == saved_churn[0]
    expected = load_churn_model(saved_churn[0]).score(only_latest, {"risk_bands": _bands()})
    scored = predictions.join(expected, on="customer_key", suffix="_saved")
    assert scored.height == expected.height > 0
    assert (scored["churn_probability"] == scored["churn_probability_saved"]).all()

    assert due["clv_model"].startswith(
        f"saved model used: a new one was due ({overdue}) but not fitted: "
    )
    assert Path(due["clv_model_path"]) == saved_clv[0]
    assert due["clv_model_fitted_as_of"] == first["clv_model_fitted_as_of"]
    buyers = recent["customer_key"].n_unique()
    assert predictions["clv_12m"].is_not_null().sum() == buyers > 0
    # nothing new was saved: the next run still finds the same models due
    assert latest_churn_model(folder)[0] == saved_churn[0]
    assert latest_clv_model(folder)[0] == saved_clv[0]

    # The next morning the CLV fit itself fails: 150 repeat customers whose spend runs
    # log-uniformly from 1 to 10,000 make Gamma-Gamma's mean spend infinite. The saved fit
    # predicts instead of the run failing (it fails when there is no saved fit to fall back on:
    # tests/predictive/test_assets.py).
    nine_days_on = only_latest.with_columns(as_of_date=pl.col("as_of_date") + timedelta(days=1))
    day = nine_days_on["as_of_date"][0]
    spenders = nine_days_on["customer_key"].head(150).to_list()
    spread = pl.DataFrame(
        {
            "customer_key": [c for c in spenders for _ in range(3)],
            "order_date": [day - timedelta(days=d) for _ in spenders for d in (90, 50, 20)],
            "is_return": [False] * 450,
            "net_revenue": [10 ** (4 * i / 149) for i in range(150) for _ in range(3)],
        }
    )
    failed_fit, predictions = _run(write_marts(warehouse, nine_days_on, spread))
    assert failed_fit["clv_model"].startswith(
        "saved model used: a new one was due (saved model is 9 days old (refit every 7), and "
        "the model_refit run has not refitted it) but fitting a new one failed: "
        "Gamma-Gamma q = "
    )
    assert Path(failed_fit["clv_model_path"]) == saved_clv[0]
    assert predictions["clv_12m"].is_not_null().sum() == 150


def _bands() -> dict[str, float]:
    from pipelines.predictive.config import DEFAULTS

    return DEFAULTS["churn"]["risk_bands"]


def _assert_predicted_with(
    model: ClvModel, predictions: pl.DataFrame, orders: pl.DataFrame, as_of: date
) -> None:
    """Every buyer's p_alive, CLV and tier in `predictions` are what `model` predicts for `as_of`."""
    summary = purchase_summary(orders.filter(pl.col("order_date") < as_of), as_of)
    expected, _, _ = clv_from_summary(summary, fitted=(model.bgnbd, model.gamma_gamma))
    compared = predictions.join(expected, on="customer_key", suffix="_saved")
    assert compared.height == expected.height > 100
    for column in ("p_alive", "clv_12m", "value_tier"):
        assert (compared[column] == compared[f"{column}_saved"]).all(), column


def test_clv_is_fitted_weekly_and_the_days_between_predict_with_the_saved_fit(
    history: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    features, orders = history
    warehouse = tmp_path / "warehouse.duckdb"
    folder = get_paths().models / MODEL_SUBFOLDER
    parameters = [f"bgnbd_{p}" for p in ("r", "alpha", "a", "b")] + [
        f"gamma_gamma_{p}" for p in ("p", "q", "gamma")
    ]

    first, first_predictions = _run(write_marts(warehouse, features, orders))
    assert first["clv_model"] == "fitted on this run: no saved model yet"
    assert first["clv_model_fitted_as_of"] == str(features["as_of_date"].max())
    saved = latest_clv_model(folder)
    assert saved is not None and Path(first["clv_model_path"]) == saved[0]
    assert saved[1]["parameters"] == {name: first[name] for name in parameters}
    model = load_clv_model(saved[0])
    # the day written is the fit's own prediction: what the saved model predicts for that day
    _assert_predicted_with(model, first_predictions, orders, features["as_of_date"].max())

    # Three days later each customer's history is three days longer: predicted again from that
    # summary with the saved parameters, not fitted on it (a fit there gives other parameters).
    three_days_on = _next_day(features, 3)
    second, predictions = _run(write_marts(warehouse, three_days_on, orders))
    assert second["clv_model"] == "saved model used: saved model is 3 days old (refit every 7)"
    assert {name: second[name] for name in parameters} == saved[1]["parameters"]
    as_of = three_days_on["as_of_date"].max()
    summary = purchase_summary(orders.filter(pl.col("order_date") < as_of), as_of)
    _, refitted, _ = clv_from_summary(summary)
    assert refitted.params_["alpha"] != second["bgnbd_alpha"], "a fit would have moved alpha"
    _assert_predicted_with(model, predictions, orders, as_of)
    stale = predictions.join(first_predictions, on="customer_key", suffix="_first")
    assert (stale["p_alive"] != stale["p_alive_first"]).any(), "not the first day's predictions"

    # Eight days after the fit day, with no model_refit run in between, the daily run fits them;
    # a forced refit fits them any day.
    week_on = _next_day(features, 8)
    third, _ = _run(write_marts(warehouse, week_on, orders))
    assert third["clv_model"] == (
        "fitted on this run: saved model is 8 days old (refit every 7), "
        "and the model_refit run has not refitted it"
    )
    assert third["clv_model_fitted_as_of"] == str(week_on["as_of_date"].max())
    forced, _ = _run(warehouse, force_refit=True)
    assert forced["clv_model"] == (
        "fitted on this run: refit requested; otherwise saved model is 0 days old (refit every 7)"
    )
    assert len(list(folder.glob(f"{CLV_PREFIX}*.joblib"))) == 3


def test_the_model_refit_run_fits_both_models_and_the_daily_run_predicts_with_them(
    history: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    features, orders = history
    warehouse = write_marts(tmp_path / "warehouse.duckdb", features, orders)
    folder = get_paths().models / MODEL_SUBFOLDER
    as_of = str(features["as_of_date"].max())

    refit = dg.materialize(
        [trained_churn_model, fitted_clv_model],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
    )
    churn, clv = (
        {
            k: getattr(v, "value", v)
            for k, v in refit.asset_materializations_for_node(node)[0].metadata.items()
        }
        for node in ("models__churn_model", "models__clv_model")
    )
    churn_saved, clv_saved = latest_churn_model(folder), latest_clv_model(folder)
    assert Path(churn["churn_model_path"]) == churn_saved[0]
    assert churn_saved[1]["fit_date"] == as_of and churn["as_of_date"] == as_of
    assert (
        churn["churn_model"]
        == f"trained as of {as_of} from {churn['feature_rows_read']} feature rows read"
    )
    assert 0.5 < churn["churn_roc_auc"] <= 1, "validated on the latest labelled as-of date"
    assert Path(clv["clv_model_path"]) == clv_saved[0] and clv_saved[1]["fit_date"] == as_of
    assert clv_saved[1]["parameters"]["bgnbd_alpha"] == clv["bgnbd_alpha"]
    assert clv["clv_model"].startswith("fitted on ") and f"before {as_of}" in clv["clv_model"]
    assert {e.asset_key for e in refit.get_asset_materialization_events()} == {
        CHURN_MODEL_KEY,
        CLV_MODEL_KEY,
    }

    # The daily run of the same day predicts with both; it fits nothing and saves nothing.
    daily, predictions = _run(warehouse)
    assert daily["churn_model"] == "saved model used: saved model is 0 days old (refit every 7)"
    assert daily["clv_model"] == "saved model used: saved model is 0 days old (refit every 7)"
    assert daily["churn_model_path"] == churn["churn_model_path"]
    assert daily["clv_model_path"] == clv["clv_model_path"]
    assert (
        daily["feature_rows_read"]
        == features.filter(pl.col("as_of_date") == features["as_of_date"].max()).height
    )
    assert len(list(folder.glob("*.joblib"))) == 2
    assert predictions["churn_probability"].is_not_null().sum() > 0
