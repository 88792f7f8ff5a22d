"""Churn risk: will a buying customer place no order in the next N days?

Trained on the point-in-time feature history: each (customer_key, as_of_date) row keeps its own
features (built by dbt from events strictly before as_of_date) and gets its label from orders on
or after as_of_date, the first day those features cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score

KEYS = ("customer_key", "as_of_date")
LABEL = "churned"


def feature_columns(features_history: pl.DataFrame, exclude: list[str]) -> list[str]:
    """Numeric and boolean feature columns, minus keys and the configured exclusions."""
    return [
        name
        for name, dtype in features_history.schema.items()
        if name not in KEYS
        and name not in exclude
        and name != LABEL
        and (dtype.is_numeric() or dtype == pl.Boolean)
    ]


def build_training_frame(
    features_history: pl.DataFrame, orders: pl.DataFrame, horizon_days: int
) -> pl.DataFrame:
    """Labelled rows: buying customers' feature rows whose next `horizon_days` are fully observed.

    `churned` is true when the customer has no non-return order with as_of_date <= order_date <
    as_of_date + horizon_days. Only as-of dates at least `horizon_days` before the latest as-of
    date are labelled. Feature values are taken from the row as it is; orders only give labels.
    """
    latest = features_history["as_of_date"].max()
    if latest is None:
        return features_history.clear().with_columns(pl.lit(None, pl.Boolean).alias(LABEL))
    last_labelled = latest - timedelta(days=horizon_days)
    rows = features_history.filter(
        (pl.col("as_of_date") <= last_labelled) & (pl.col("frequency") > 0)
    )
    purchase_days = (
        orders.filter(pl.col("customer_key").is_not_null() & ~pl.col("is_return").fill_null(False))
        .select("customer_key", pl.col("order_date").cast(pl.Date))
        .unique()
    )
    window_end = pl.col("as_of_date") + pl.duration(days=horizon_days)
    bought = (
        rows.select(KEYS)
        .join(purchase_days, on="customer_key", how="inner")
        .filter(
            (pl.col("order_date") >= pl.col("as_of_date")) & (pl.col("order_date") < window_end)
        )
        .select(KEYS)
        .unique()
        .with_columns(pl.lit(False).alias(LABEL))
    )
    # in key order: the training sample and the classifier's own subsamples go by position, and
    # neither the warehouse nor a join keeps one order from run to run
    return (
        rows.join(bought, on=list(KEYS), how="left")
        .with_columns(pl.col(LABEL).fill_null(True))
        .sort(KEYS)
    )


def calibration_table(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Decile bins of predicted probability: rows, mean predicted, observed churn rate."""
    frame = pl.DataFrame({"predicted": predicted, "observed": observed.astype(float)})
    frame = frame.with_columns(
        decile=(pl.col("predicted").rank("ordinal") * bins / (len(frame) + 1))
        .floor()
        .cast(pl.Int32)
        + 1
    )
    return (
        frame.group_by("decile")
        .agg(
            rows=pl.len(),
            mean_predicted=pl.col("predicted").mean(),
            observed_rate=pl.col("observed").mean(),
        )
        .sort("decile")
    )


def risk_band(probability: pl.Expr, medium_from: float, high_from: float) -> pl.Expr:
    return (
        pl.when(probability >= high_from)
        .then(pl.lit("high"))
        .when(probability >= medium_from)
        .then(pl.lit("medium"))
        .when(probability.is_not_null())
        .then(pl.lit("low"))
    )


def _matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    return frame.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()


@dataclass
class ChurnModel:
    """A trained churn classifier (None when there was nothing to learn from, `validation` says
    why), the feature columns it reads, its time-based validation and the as-of date it was
    trained for. Saved and reused between refits (`pipelines.predictive.store`)."""

    classifier: HistGradientBoostingClassifier | None
    columns: list[str]
    validation: dict[str, Any]
    calibration: pl.DataFrame | None
    trained_as_of: date | None = None

    def missing_columns(self, features: pl.DataFrame) -> list[str]:
        return [c for c in self.columns if c not in features.columns]

    def score(self, features: pl.DataFrame, config: dict[str, Any]) -> pl.DataFrame:
        """(customer_key, as_of_date, churn_probability, churn_risk_band) for the buyers
        (frequency > 0) of the latest as-of date of `features`; null without a classifier."""
        latest = features.filter(
            (pl.col("as_of_date") == features["as_of_date"].max()) & (pl.col("frequency") > 0)
        )
        if self.classifier is None:
            return latest.select(KEYS).with_columns(
                churn_probability=pl.lit(None, pl.Float64), churn_risk_band=pl.lit(None, pl.String)
            )
        probability = self.classifier.predict_proba(_matrix(latest, self.columns))[:, 1]
        bands = config["risk_bands"]
        return (
            latest.select(KEYS)
            .with_columns(
                churn_probability=pl.Series(probability if len(latest) else [], dtype=pl.Float64)
            )
            .with_columns(
                churn_risk_band=risk_band(
                    pl.col("churn_probability"), bands["medium_from"], bands["high_from"]
                )
            )
        )


@dataclass
class ChurnResult:
    scores: pl.DataFrame
    validation: dict[str, Any] = field(default_factory=dict)
    calibration: pl.DataFrame | None = None
    features: list[str] = field(default_factory=list)


def _at_most(frame: pl.DataFrame, rows: int, seed: int) -> pl.DataFrame:
    # Weekly history of a large shop is tens of millions of rows; a sample trains as well.
    return frame if frame.height <= rows else frame.sample(n=rows, seed=seed)


def _classifier(config: dict[str, Any]) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=config["max_iter"],
        learning_rate=config["learning_rate"],
        random_state=config["random_state"],
    )


def train_churn_model(
    features_history: pl.DataFrame, orders: pl.DataFrame, config: dict[str, Any]
) -> ChurnModel:
    """Validate on the latest labelled as-of date, then refit on all labels.

    `config` is the `churn` section of predictive.yaml. Validation trains only on as-of dates whose
    label window ends by the validation date, so no training label sees the validation period.
    """
    horizon = config["horizon_days"]
    columns = feature_columns(features_history, config["exclude_features"])
    training = build_training_frame(features_history, orders, horizon)
    dates = training["as_of_date"].unique().sort()
    trained_as_of = features_history["as_of_date"].max()
    if len(dates) == 0 or training[LABEL].n_unique() < 2:
        # A young history (shorter than the horizon) is no failure: no risk yet, and it says why.
        reason = (
            f"not trained: needs labelled rows of both kinds, found {len(training)} labelled rows "
            f"over {len(dates)} as-of dates at least {horizon} days before the latest as-of date "
            f"{trained_as_of}"
        )
        return ChurnModel(None, columns, {"skipped": reason, "horizon_days": horizon}, None)
    validation_date = dates[-1]
    train = training.filter(pl.col("as_of_date") <= validation_date - timedelta(days=horizon))
    validate = training.filter(pl.col("as_of_date") == validation_date)
    validation: dict[str, Any] = {
        "train_first_as_of_date": str(train["as_of_date"].min()),
        "train_last_as_of_date": str(train["as_of_date"].max()),
        "validation_as_of_date": str(validation_date),
        "train_rows": min(len(train), config["max_training_rows"]),
        "validation_rows": len(validate),
        "horizon_days": horizon,
    }
    calibration = None
    if train[LABEL].n_unique() == 2 and validate[LABEL].n_unique() == 2:
        train = _at_most(train, config["max_training_rows"], config["random_state"])
        model = _classifier(config).fit(_matrix(train, columns), train[LABEL].to_numpy())
        predicted = model.predict_proba(_matrix(validate, columns))[:, 1]
        observed = validate[LABEL].to_numpy()
        validation["roc_auc"] = float(roc_auc_score(observed, predicted))
        validation["pr_auc"] = float(average_precision_score(observed, predicted))
        validation["observed_churn_rate"] = float(observed.mean())
        calibration = calibration_table(predicted, observed)
    else:
        validation["skipped"] = (
            "time-based validation needs both labels in the training dates (at least "
            f"{horizon} days before {validation_date}) and on {validation_date}"
        )
    training = _at_most(training, config["max_training_rows"], config["random_state"])
    model = _classifier(config).fit(_matrix(training, columns), training[LABEL].to_numpy())
    return ChurnModel(model, columns, validation, calibration, trained_as_of)


def fit_churn_model(
    features_history: pl.DataFrame, orders: pl.DataFrame, config: dict[str, Any]
) -> ChurnResult:
    """`train_churn_model`, then score the buyers of the latest as-of date."""
    model = train_churn_model(features_history, orders, config)
    return ChurnResult(
        model.score(features_history, config), model.validation, model.calibration, model.columns
    )


def churn_scores(
    features_history: pl.DataFrame, orders: pl.DataFrame, config: dict[str, Any]
) -> pl.DataFrame:
    """(customer_key, as_of_date, churn_probability, churn_risk_band) for the latest as-of date.

    `config` is the whole predictive config (`load_predictive_config()`) or its `churn` section.
    """
    churn_config = config.get("churn", config)
    return fit_churn_model(features_history, orders, churn_config).scores
