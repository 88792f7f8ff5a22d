"""Predictive segments: CLV, probability alive and churn risk read together as one label."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl


def predictive_segment(
    predictions: pl.DataFrame, as_of_date: date, config: dict[str, Any]
) -> pl.Series:
    """Label each row of `predictions` (value_tier, churn_risk_band, p_alive, first_purchase).

    First match wins: 'High value at risk', 'Likely lost', 'Rising stars', then 'Steady'.
    A customer without any purchase gets `no_purchase_label`. `config` is the `segments` section.
    """
    at_risk = config["high_value_at_risk"]
    rising = config["rising_stars"]
    age_days = (pl.lit(as_of_date) - pl.col("first_purchase")).dt.total_days()
    label = (
        pl.when(pl.col("first_purchase").is_null())
        .then(pl.lit(config["no_purchase_label"]))
        .when(
            pl.col("value_tier").is_in(at_risk["value_tiers"])
            & pl.col("churn_risk_band").is_in(at_risk["risk_bands"])
        )
        .then(pl.lit("High value at risk"))
        .when(pl.col("p_alive") < config["likely_lost"]["max_p_alive"])
        .then(pl.lit("Likely lost"))
        .when(
            (age_days <= rising["max_days_since_first_purchase"])
            & pl.col("value_tier").is_in(rising["value_tiers"])
        )
        .then(pl.lit("Rising stars"))
        .otherwise(pl.lit(config["steady_label"]))
    )
    return predictions.select(label.alias("predictive_segment")).to_series()
