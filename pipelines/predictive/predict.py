"""One frame per customer for the latest as-of date: CLV, probability alive, churn risk, segment.

This is what the predictive asset writes to `candidate.customer_predictions` and what joins
`segments.customer_segments` on (customer_key, as_of_date).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from pipelines.predictive.churn import ChurnModel, train_churn_model
from pipelines.predictive.clv import (
    BetaGeoModel,
    ClvModel,
    GammaGammaModel,
    clv_from_summary,
    purchase_summary,
    repeat_customers,
)
from pipelines.predictive.segments import predictive_segment

PREDICTION_COLUMNS = [
    "customer_key",
    "as_of_date",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "p_alive",
    "clv_12m",
    "value_tier",
    "churn_probability",
    "churn_risk_band",
    "predictive_segment",
]

NUMERIC_CLV_COLUMNS = ["expected_purchases_90d", "expected_purchases_365d", "p_alive", "clv_12m"]


@dataclass
class Predictions:
    customers: pl.DataFrame
    churn_validation: dict[str, Any] = field(default_factory=dict)
    calibration: pl.DataFrame | None = None
    clv_skipped: str | None = None
    churn_model: ChurnModel | None = None
    clv_model: ClvModel | None = None

    @property
    def clv_parameters(self) -> dict[str, float]:
        """The BG/NBD and Gamma-Gamma parameters in use (empty when no CLV model was fitted)."""
        return self.clv_model.parameters if self.clv_model else {}


@dataclass
class ClvFit:
    """What `fit_clv_model` made of the purchases before `as_of_date`: the models (None when the
    shop has too few repeat customers yet), what they were fitted on or why none was, and the
    day's CLV per customer who bought: the fit's own predictions, or nulls without a model."""

    model: ClvModel | None
    note: str
    predictions: pl.DataFrame
    as_of_date: date

    @property
    def skipped(self) -> str | None:
        """Why no model was fitted, or None."""
        return None if self.model else self.note


def customer_predictions(
    features_history: pl.DataFrame,
    orders: pl.DataFrame,
    config: dict[str, Any],
    churn_model: ChurnModel | None = None,
    clv: ClvModel | ClvFit | None = None,
) -> Predictions:
    """Predictions for every customer of the latest as-of date of `features_history`.

    CLV is fitted on orders strictly before that date (a quick fit: one row per distinct purchase
    history). Churn is trained on the feature history and its labels, unless a trained
    `churn_model` is given: then the history needs only the latest as-of date, which it scores.
    A saved model given as `clv` likewise predicts the day's purchase summary without fitting on
    it; a `ClvFit` made for this same as-of date (the daily run that fits CLV itself) is used as
    it is, and the day's purchases are not summarised and predicted a second time.
    Customers who never bought get nulls and the `no_purchase_label` segment. With fewer than
    `clv.min_repeat_customers` repeat customers (and no saved model) no CLV model is fitted: the
    CLV columns are null for everyone and `clv_skipped` says why.
    """
    as_of_date = features_history["as_of_date"].max()
    if not isinstance(clv, ClvFit):
        clv = _day_clv(orders, as_of_date, config["clv"], clv)
    elif clv.as_of_date != as_of_date:
        raise ValueError(
            f"a CLV fit's own predictions serve only the day it was made for: these are "
            f"predictions for {as_of_date}, not {clv.as_of_date}"
        )
    if churn_model is None:
        churn_model = train_churn_model(features_history, orders, config["churn"])
    scores = churn_model.score(features_history, config["churn"])
    customers = (
        features_history.filter(pl.col("as_of_date") == as_of_date)
        .select("customer_key", "as_of_date")
        .join(clv.predictions, on="customer_key", how="left")
        .join(scores.drop("as_of_date"), on="customer_key", how="left")
    )
    customers = customers.with_columns(
        predictive_segment=predictive_segment(customers, as_of_date, config["segments"])
    )
    return Predictions(
        customers.select(PREDICTION_COLUMNS),
        churn_model.validation,
        churn_model.calibration,
        clv.skipped,
        churn_model,
        clv.model,
    )


def _day_clv(
    orders: pl.DataFrame, as_of_date: date, clv_config: dict[str, Any], clv_model: ClvModel | None
) -> ClvFit:
    """The day's CLV: predicted with a saved `clv_model`, else fitted on the day's summary."""
    summary = _summary_before(orders, as_of_date)
    if clv_model is None:
        return _fit(summary, as_of_date, clv_config)
    predictions, _, _ = _clv(summary, clv_config, (clv_model.bgnbd, clv_model.gamma_gamma))
    return ClvFit(clv_model, f"fitted as of {clv_model.fitted_as_of}", predictions, as_of_date)


def fit_clv_model(orders: pl.DataFrame, as_of_date: date, clv_config: dict[str, Any]) -> ClvFit:
    """The CLV models fitted on the purchases before `as_of_date` (the `model_refit` run's work),
    what they were fitted on, and their predictions for `as_of_date`; no model and why for a shop
    with too few repeat customers yet. Predictions that are not finite raise `ModelFitError`."""
    return _fit(_summary_before(orders, as_of_date), as_of_date, clv_config)


def _fit(summary: pl.DataFrame, as_of_date: date, clv_config: dict[str, Any]) -> ClvFit:
    repeaters = repeat_customers(summary).height
    skipped = _too_few_repeaters(repeaters, as_of_date, clv_config)
    if skipped:
        nulls = summary.select("customer_key", "first_purchase").with_columns(
            *(pl.lit(None, pl.Float64).alias(name) for name in NUMERIC_CLV_COLUMNS),
            value_tier=pl.lit(None, pl.String),
        )
        return ClvFit(None, skipped, nulls, as_of_date)
    predictions, bgnbd, gamma_gamma = _clv(summary, clv_config, None)
    return ClvFit(
        ClvModel(bgnbd, gamma_gamma, as_of_date),
        f"fitted on {summary.height} customers' purchases before {as_of_date}, "
        f"{repeaters} of them repeat customers",
        predictions,
        as_of_date,
    )


def _summary_before(orders: pl.DataFrame, as_of_date: date) -> pl.DataFrame:
    return purchase_summary(
        orders.filter(pl.col("order_date").cast(pl.Date) < as_of_date), as_of_date
    )


def _too_few_repeaters(repeaters: int, as_of_date: date, clv_config: dict[str, Any]) -> str | None:
    """Why no CLV model is fitted, or None: a young shop has too few repeat customers to
    estimate spend and dropout, so no CLV yet."""
    if repeaters >= clv_config["min_repeat_customers"]:
        return None
    return (
        f"not fitted: {repeaters} customers with a repeat purchase before {as_of_date}, "
        f"at least {clv_config['min_repeat_customers']} needed (clv.min_repeat_customers)"
    )


def _clv(
    summary: pl.DataFrame,
    clv_config: dict[str, Any],
    fitted: tuple[BetaGeoModel, GammaGammaModel] | None,
) -> tuple[pl.DataFrame, BetaGeoModel, GammaGammaModel]:
    """`clv_from_summary` with the `clv` settings: fitted on `summary`, or with `fitted`."""
    return clv_from_summary(
        summary,
        months=clv_config["horizon_months"],
        monthly_discount_rate=clv_config["monthly_discount_rate"],
        tiers=clv_config["value_tiers"],
        rest_label=clv_config["rest_label"],
        fitted=fitted,
    )
