"""Rule-based segments: RFM, purchase-frequency tier, lifecycle stage, web behaviour, category.

Pure Polars on the columns of `marts.customer_features`; every customer gets exactly one value per
segment type. Thresholds come from `segments.yaml` (see `config.load_segment_config`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.segmentation.config import load_preference_names, load_segment_config

# The widely used RFM grid on recency (R) and frequency (F) scores, first match wins.
# Each entry: segment, allowed R scores, allowed F scores. Monetary is reported, not used to name.
RFM_GRID: tuple[tuple[str, frozenset[int], frozenset[int]], ...] = (
    ("Champions", frozenset({5}), frozenset({4, 5})),
    ("Loyal", frozenset({3, 4}), frozenset({4, 5})),
    ("Potential loyalists", frozenset({4, 5}), frozenset({2, 3})),
    ("New customers", frozenset({5}), frozenset({1})),
    ("Promising", frozenset({4}), frozenset({1})),
    ("Need attention", frozenset({3}), frozenset({3})),
    ("About to sleep", frozenset({3}), frozenset({1, 2})),
    ("Can't lose them", frozenset({1, 2}), frozenset({5})),
    ("At risk", frozenset({1, 2}), frozenset({3, 4})),
    ("Hibernating", frozenset({2}), frozenset({1, 2})),
    ("Lost", frozenset({1}), frozenset({1, 2})),
)
RFM_SEGMENTS = tuple(name for name, _, _ in RFM_GRID)
SEGMENT_TYPES = (
    "rfm_segment",
    "frequency_tier",
    "lifecycle_stage",
    "web_behaviour",
    "category_preference",
)


def rfm_segment_for(r_score: int, f_score: int) -> str:
    """The named RFM segment of one (R, F) pair of scores 1-5."""
    for name, recency_scores, frequency_scores in RFM_GRID:
        if r_score in recency_scores and f_score in frequency_scores:
            return name
    raise ValueError(f"RFM scores expected 1-5, found R={r_score}, F={f_score}")


def _quintile_score(column: str, reverse: bool = False) -> pl.Expr:
    # Average ranks give tied customers the same score; scores run 1-5 over buyers only.
    value = pl.col(column).cast(pl.Float64)
    rank = value.rank("average")
    count = value.count()
    score = (rank * 5 / (count + 1)).floor().cast(pl.Int8) + 1
    score = pl.when(score > 5).then(5).otherwise(score).cast(pl.Int8)
    return (6 - score).cast(pl.Int8) if reverse else score


def rfm_scores(features: pl.DataFrame) -> pl.DataFrame:
    """`r_score`, `f_score`, `m_score` 1-5 by quintile among customers with orders.

    Recency is reversed (the most recent buyers score 5). Customers without orders (null
    `recency_days` or zero `frequency`) get null scores: they are not ranked against buyers.
    """
    buyer = pl.col("recency_days").is_not_null() & (pl.col("frequency").fill_null(0) > 0)
    buyers = features.filter(buyer).with_columns(
        r_score=_quintile_score("recency_days", reverse=True),
        f_score=_quintile_score("frequency"),
        m_score=_quintile_score("monetary"),
    )
    scores = buyers.select("customer_key", "r_score", "f_score", "m_score")
    return features.join(scores, on="customer_key", how="left")


def _rfm_segment_expr(no_purchase_label: str) -> pl.Expr:
    segment = pl.lit(no_purchase_label)
    for name, recency_scores, frequency_scores in reversed(RFM_GRID):
        match = pl.col("r_score").is_in(list(recency_scores)) & pl.col("f_score").is_in(
            list(frequency_scores)
        )
        segment = pl.when(match).then(pl.lit(name)).otherwise(segment)
    return segment


def frequency_tier_expr(config: dict[str, Any]) -> pl.Expr:
    tiers = config["frequency_tiers"]
    orders = pl.col("frequency_365d").fill_null(0)
    return (
        pl.when(orders >= tiers["high_min_orders_365d"])
        .then(pl.lit("high"))
        .when(orders >= tiers["medium_min_orders_365d"])
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def lifecycle_stage_expr(config: dict[str, Any]) -> pl.Expr:
    """new, active, lapsing or lapsed; a customer who never bought is new while their tenure is
    within the 'new' window and lapsed after it."""
    life = config["lifecycle"]
    days_since_first_order = (
        pl.col("as_of_date").cast(pl.Date) - pl.col("first_order_at").cast(pl.Date)
    ).dt.total_days()
    recency = pl.col("recency_days")
    new_days = life["new_max_days_since_first_order"]
    return (
        pl.when(recency.is_null())
        .then(
            pl.when(pl.col("tenure_days").fill_null(0) <= new_days)
            .then(pl.lit("new"))
            .otherwise(pl.lit("lapsed"))
        )
        .when(days_since_first_order <= new_days)
        .then(pl.lit("new"))
        .when(recency <= life["active_max_recency_days"])
        .then(pl.lit("active"))
        .when(recency <= life["lapsing_max_recency_days"])
        .then(pl.lit("lapsing"))
        .otherwise(pl.lit("lapsed"))
    )


def web_behaviour_expr(config: dict[str, Any]) -> pl.Expr:
    web = config["web_behaviour"]
    return (
        pl.when(
            pl.col("cart_abandonments_30d").fill_null(0)
            >= web["cart_abandoner_min_abandonments_30d"]
        )
        .then(pl.lit("cart abandoners"))
        .when(pl.col("web_sessions_30d").fill_null(0) >= web["frequent_browser_min_sessions_30d"])
        .then(pl.lit("frequent browsers"))
        .when(pl.col("is_first_time_visitor").fill_null(False))
        .then(pl.lit("first-time visitors"))
        .otherwise(pl.lit("none"))
    )


def top_categories(category_shares: pl.DataFrame) -> pl.DataFrame:
    """From the long frame `customer_key, category_code, share`: each customer's top category
    and its share (ties broken by category code so the result is reproducible)."""
    return (
        category_shares.sort(
            ["customer_key", "share", "category_code"], descending=[False, True, False]
        )
        .group_by("customer_key", maintain_order=True)
        .first()
        .select(
            "customer_key",
            pl.col("category_code").alias("top_category"),
            pl.col("share").alias("top_category_share"),
        )
    )


def category_preference_expr(config: dict[str, Any], preference_names: dict[str, str]) -> pl.Expr:
    preference = config["category_preference"]
    named = pl.col("top_category").replace_strict(
        preference_names, default=pl.col("top_category"), return_dtype=pl.String
    )
    return (
        pl.when(pl.col("top_category").is_null())
        .then(pl.lit(config["no_purchase_label"]))
        .when(pl.col("top_category_share").fill_null(0) >= preference["min_top_category_share"])
        .then(named)
        .otherwise(pl.lit(preference["mixed_label"]))
    )


def rule_based_segments(
    features: pl.DataFrame,
    category_shares: pl.DataFrame | None = None,
    config: dict[str, Any] | None = None,
    preference_names: dict[str, str] | None = None,
) -> pl.DataFrame:
    """One row per customer: `customer_key, as_of_date, r_score, f_score, m_score, rfm_segment,
    frequency_tier, lifecycle_stage, web_behaviour, category_preference`.

    `features` holds one as-of date of `marts.customer_features`. When `category_shares` (long:
    `customer_key, category_code, share`) is given, it replaces the features' top category.
    """
    config = config if config is not None else load_segment_config()
    names = preference_names if preference_names is not None else load_preference_names()
    frame = features
    if category_shares is not None:
        frame = frame.drop("top_category", "top_category_share", strict=False).join(
            top_categories(category_shares), on="customer_key", how="left"
        )
    frame = rfm_scores(frame)
    return frame.select(
        "customer_key",
        "as_of_date",
        "r_score",
        "f_score",
        "m_score",
        _rfm_segment_expr(config["no_purchase_label"]).alias("rfm_segment"),
        frequency_tier_expr(config).alias("frequency_tier"),
        lifecycle_stage_expr(config).alias("lifecycle_stage"),
        web_behaviour_expr(config).alias("web_behaviour"),
        category_preference_expr(config, names).alias("category_preference"),
    )
