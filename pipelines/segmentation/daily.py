"""One day's segmentation: rule-based segments, ML segments with the saved or a refitted model,
and the profile of every segment, in the shapes of `candidate.customer_segments` and
`candidate.segment_profiles` (docs/data-model.md). Pure Python: the Dagster asset only reads
the features, calls `segment_customers` and writes the frames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.refit import RefitDecision, should_refit
from pipelines.segmentation.clustering import (
    CustomerClusterer,
    clustering_frame,
    latest_model_path,
    load_clusterer,
    sensitive_attribute_distribution,
)
from pipelines.segmentation.config import (
    load_clustering_config,
    load_preference_names,
    load_segment_config,
)
from pipelines.segmentation.rules import RFM_GRID, SEGMENT_TYPES, rule_based_segments

SEGMENT_COLUMNS = (
    "customer_key",
    "as_of_date",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "frequency_tier",
    "lifecycle_stage",
    "web_behaviour",
    "category_preference",
    "cluster_id",
    "cluster_name",
)
PROFILE_COLUMNS = (
    "segment_type",
    "segment",
    "description",
    "rules",
    "customers",
    "share",
    "feature_means",
)

# customers with at least one order: the clustering groups them, the others get their own label
BOUGHT = pl.col("recency_days").is_not_null()


@dataclass
class SegmentationRun:
    """What one day's segmentation produced, and which model it used."""

    customer_segments: pl.DataFrame
    segment_profiles: pl.DataFrame
    sensitive_spread: pl.DataFrame | None
    model: CustomerClusterer | None
    model_path: Path | None
    refit: RefitDecision


def segment_customers(
    features: pl.DataFrame,
    model_folder: Path | str,
    category_shares: pl.DataFrame | None = None,
    customers: pl.DataFrame | None = None,
    segment_config: dict[str, Any] | None = None,
    clustering_config: dict[str, Any] | None = None,
    preference_names: dict[str, str] | None = None,
    force_refit: bool = False,
    grace_days: int = 0,
) -> SegmentationRun:
    """Segments every customer of the latest as-of date in `features`.

    The clustering model is refitted (and saved under `model_folder`) when `should_refit` says
    so, matched to the previous model so ids and names persist; otherwise the saved model
    assigns everyone, new customers included. `customers` (`customer_key` with `birth_year,
    gender, city, country`) gives the sensitive-attribute spread per cluster. `force_refit`
    refits today whatever the saved model's age (still matched to the saved model); the daily
    run passes `grace_days` (see `pipelines.refit`).
    """
    segment_config = segment_config if segment_config is not None else load_segment_config()
    clustering_config = (
        clustering_config if clustering_config is not None else load_clustering_config()
    )
    names = preference_names if preference_names is not None else load_preference_names()
    as_of, day, category_shares = _latest_day(features, category_shares)
    rules = rule_based_segments(day, category_shares, segment_config, names)

    frame = clustering_frame(day, category_shares, clustering_config["features"])
    buyers = frame.filter(BOUGHT)
    no_purchase = segment_config["no_purchase_label"]
    previous_path = latest_model_path(model_folder)
    previous = load_clusterer(previous_path) if previous_path is not None else None
    decision = should_refit(
        previous.meta_ if previous else None,
        as_of,
        clustering_config,
        force_refit=force_refit,
        grace_days=grace_days,
    )
    model, model_path = previous, previous_path
    if buyers.height <= clustering_config["k_min"]:
        decision = RefitDecision(False, _too_few(buyers))
        clusters = buyers.select(
            "customer_key",
            pl.lit(0, pl.Int32).alias("cluster_id"),
            pl.lit("All customers").alias("cluster_name"),
        )
        model, model_path = None, None
    else:
        if decision.refit:
            model, model_path = _fit_and_save(
                buyers, as_of, clustering_config, names, previous, model_folder
            )
        clusters = model.assign(buyers)
    others = frame.filter(~BOUGHT).select(
        "customer_key",
        pl.lit(-1, pl.Int32).alias("cluster_id"),
        pl.lit(no_purchase).alias("cluster_name"),
    )
    segments = rules.join(pl.concat([clusters, others]), on="customer_key", how="left").select(
        SEGMENT_COLUMNS
    )
    spread = None
    if customers is not None:
        spread = sensitive_attribute_distribution(
            segments.select("customer_key", "cluster_id"), customers, as_of
        )
    profiles = segment_profiles(segments, model, segment_config, names)
    return SegmentationRun(segments, profiles, spread, model, model_path, decision)


@dataclass
class ClustererRefit:
    """What the weekly refit of the clustering model made: the saved model and its path, or no
    model and why (too few customers with orders to group)."""

    model: CustomerClusterer | None
    model_path: Path | None
    reason: str
    customers: int


def refit_clusterer(
    features: pl.DataFrame,
    model_folder: Path | str,
    category_shares: pl.DataFrame | None = None,
    clustering_config: dict[str, Any] | None = None,
    preference_names: dict[str, str] | None = None,
) -> ClustererRefit:
    """Fit the clustering model on the buyers of the latest as-of date in `features` and save it
    under `model_folder`, matched to the saved model so ids and names persist where the groups
    barely moved: the `model_refit` run's work. The daily run then assigns with it."""
    clustering_config = (
        clustering_config if clustering_config is not None else load_clustering_config()
    )
    names = preference_names if preference_names is not None else load_preference_names()
    as_of, day, category_shares = _latest_day(features, category_shares)
    buyers = clustering_frame(day, category_shares, clustering_config["features"]).filter(BOUGHT)
    if buyers.height <= clustering_config["k_min"]:
        return ClustererRefit(None, None, _too_few(buyers), buyers.height)
    previous_path = latest_model_path(model_folder)
    previous = load_clusterer(previous_path) if previous_path is not None else None
    model, path = _fit_and_save(buyers, as_of, clustering_config, names, previous, model_folder)
    reason = "refitted on the latest features" + (
        f", matched to {previous.meta_['model_version']}" if previous else ", no saved model yet"
    )
    return ClustererRefit(model, path, reason, buyers.height)


def _latest_day(
    features: pl.DataFrame, category_shares: pl.DataFrame | None
) -> tuple[Any, pl.DataFrame, pl.DataFrame | None]:
    """The latest as-of date of `features`, its rows and its category shares."""
    as_of = features["as_of_date"].max()
    day = features.filter(pl.col("as_of_date") == as_of)
    if category_shares is not None and "as_of_date" in category_shares.columns:
        category_shares = category_shares.filter(pl.col("as_of_date") == as_of)
    return as_of, day, category_shares


def _too_few(buyers: pl.DataFrame) -> str:
    return f"only {buyers.height} customers with orders: not grouped"


def _fit_and_save(
    buyers: pl.DataFrame,
    as_of: Any,
    clustering_config: dict[str, Any],
    names: dict[str, str],
    previous: CustomerClusterer | None,
    model_folder: Path | str,
) -> tuple[CustomerClusterer, Path]:
    model = CustomerClusterer.from_config(clustering_config, names)
    model.fit(buyers, as_of_date=as_of, previous=previous)
    return model, model.save(model_folder)


def _rfm_rule(recency: frozenset[int], frequency: frozenset[int]) -> str:
    def scores(column: str, values: frozenset[int]) -> str:
        ordered = sorted(values)
        if len(ordered) == 1:
            return f"{column} = {ordered[0]}"
        return f"{column} between {ordered[0]} and {ordered[-1]}"

    return f"{scores('r_score', recency)} and {scores('f_score', frequency)}"


def _rule_texts(config: dict[str, Any], preference_names: dict[str, str]) -> dict:
    tiers, life, web = config["frequency_tiers"], config["lifecycle"], config["web_behaviour"]
    share = config["category_preference"]["min_top_category_share"]
    texts: dict[tuple[str, str], tuple[str, str]] = {}
    for name, recency, frequency in RFM_GRID:
        texts["rfm_segment", name] = (
            f"RFM grid cell(s) R {sorted(recency)}, F {sorted(frequency)} (docs/segments.md)",
            _rfm_rule(recency, frequency),
        )
    high, medium = tiers["high_min_orders_365d"], tiers["medium_min_orders_365d"]
    texts["frequency_tier", "high"] = (
        f"At least {high} orders in the last 365 days",
        f"frequency_365d >= {high}",
    )
    texts["frequency_tier", "medium"] = (
        f"{medium} to {high - 1} orders in the last 365 days",
        f"frequency_365d >= {medium} and frequency_365d < {high}",
    )
    texts["frequency_tier", "low"] = (
        f"Fewer than {medium} orders in the last 365 days",
        f"frequency_365d < {medium}",
    )
    new, active, lapsing = (
        life["new_max_days_since_first_order"],
        life["active_max_recency_days"],
        life["lapsing_max_recency_days"],
    )
    texts["lifecycle_stage", "new"] = (
        f"First order at most {new} days ago, or known for at most {new} days without an order",
        f"days since first order <= {new}",
    )
    texts["lifecycle_stage", "active"] = (
        f"Last order at most {active} days ago",
        f"recency_days <= {active}",
    )
    texts["lifecycle_stage", "lapsing"] = (
        f"Last order {active + 1} to {lapsing} days ago",
        f"recency_days > {active} and recency_days <= {lapsing}",
    )
    texts["lifecycle_stage", "lapsed"] = (
        f"Last order more than {lapsing} days ago, or never bought after {new} days",
        f"recency_days > {lapsing}",
    )
    abandon, sessions = (
        web["cart_abandoner_min_abandonments_30d"],
        web["frequent_browser_min_sessions_30d"],
    )
    texts["web_behaviour", "cart abandoners"] = (
        "Left a filled cart on the webshop in the last 30 days",
        f"cart_abandonments_30d >= {abandon}",
    )
    texts["web_behaviour", "frequent browsers"] = (
        f"At least {sessions} webshop visits in the last 30 days",
        f"web_sessions_30d >= {sessions}",
    )
    texts["web_behaviour", "first-time visitors"] = (
        "First visit to the webshop",
        "is_first_time_visitor",
    )
    texts["web_behaviour", "none"] = ("No notable webshop activity in the last 30 days", "")
    for code, name in preference_names.items():
        texts["category_preference", name] = (
            f"At least {share:.0%} of their spend on {code}",
            f"top_category = '{code}' and top_category_share >= {share}",
        )
    texts["category_preference", config["category_preference"]["mixed_label"]] = (
        f"No category reaches {share:.0%} of their spend",
        f"top_category_share < {share}",
    )
    return texts


def segment_profiles(
    segments: pl.DataFrame,
    model: CustomerClusterer | None,
    config: dict[str, Any],
    preference_names: dict[str, str],
) -> pl.DataFrame:
    """One row per segment type and segment present today: `segment_type, segment,
    description, rules, customers, share, feature_means` (JSON, clusters only)."""
    texts = _rule_texts(config, preference_names)
    no_purchase = config["no_purchase_label"]
    cluster_profiles = {p["cluster_name"]: p for p in (model.profiles_ if model else [])}
    rows = []
    total = segments.height
    for segment_type in (*SEGMENT_TYPES, "cluster_name"):
        counts = segments.group_by(segment_type).len("customers").sort("customers", descending=True)
        for segment, count in counts.iter_rows():
            description, rule, means = "", "", None
            if segment == no_purchase:
                description, rule = "Customers who have not bought yet", "recency_days is null"
            elif segment_type == "cluster_name" and segment in cluster_profiles:
                profile = cluster_profiles[segment]
                description, rule = profile["description"], profile["rules"]
                means = json.dumps(profile["feature_means"])
            elif (segment_type, segment) in texts:
                description, rule = texts[segment_type, segment]
            rows.append(
                {
                    "segment_type": segment_type,
                    "segment": segment,
                    "description": description,
                    "rules": rule,
                    "customers": count,
                    "share": count / total if total else 0.0,
                    "feature_means": means,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "segment_type": pl.String,
            "segment": pl.String,
            "description": pl.String,
            "rules": pl.String,
            "customers": pl.Int64,
            "share": pl.Float64,
            "feature_means": pl.String,
        },
    )
