"""Segmentation assets: the latest customer features become `candidate.customer_segments` and
`candidate.segment_profiles` (docs/data-model.md), checked by the quality gates before publication;
and the clustering model they assign with, `models/customer_clusterer`, fitted again by the weekly
`model_refit` run.

The work is `pipelines.segmentation.daily.segment_customers`; this module only reads what it needs
from the marts, calls it with the model folder under the data directory, writes the two candidate
tables and says in the run's metadata what happened (refit or not and why, the model, k, names).
scikit-learn and the segmentation library are imported inside the asset so the code location loads
fast.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field

from pipelines.metadata import markdown_table
from pipelines.refit import DAILY_RUN_GRACE_DAYS, MODELS_GROUP, RefitDecision
from pipelines.resources import WAREHOUSE_POOL
from pipelines.settings import get_paths

SEGMENTS_KEY = dg.AssetKey(["candidate", "customer_segments"])
PROFILES_KEY = dg.AssetKey(["candidate", "segment_profiles"])
CLUSTERER_KEY = dg.AssetKey(["models", "customer_clusterer"])
CLUSTERING_DEPS = [
    dg.AssetKey(["marts", "customer_features"]),
    dg.AssetKey(["marts", "customer_category_spend"]),
]
MART_DEPS = [*CLUSTERING_DEPS, dg.AssetKey(["marts", "customers"])]
MODEL_SUBFOLDER = "segmentation"

LATEST_FEATURES = """
    select * from marts.customer_features
    where as_of_date = (select max(as_of_date) from marts.customer_features)
"""
CATEGORY_SHARES = """
    select customer_key, as_of_date, category_code, share
    from marts.customer_category_spend
    where as_of_date = $as_of
"""
# only what the sensitive-attribute spread reads: never names, emails or phones
CUSTOMER_ATTRIBUTES = "select customer_key, birth_year, gender, city, country from marts.customers"


class SegmentationConfig(dg.Config):
    """Run config of the segmentation step (Launchpad: ops.customer_segments.config)."""

    force_refit: bool = Field(
        default=False,
        description="Refit the clustering model today even if the saved one is not due "
        "(clusters are still matched to it, so ids and names persist where groups barely moved).",
    )


class EmptyFeaturesError(RuntimeError):
    """There is no customer to segment: the features mart is empty."""


def read_segmentation_inputs(
    duckdb: DuckDBResource, with_customers: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """The latest as-of date of the features, that date's category shares, the customers'
    age, gender and location (for the spread per cluster; not `with_customers`, None), over one
    short-lived connection."""
    with duckdb.get_connection() as con:
        features = con.sql(LATEST_FEATURES).pl()
        if features.is_empty():
            raise EmptyFeaturesError(
                "marts.customer_features holds no rows: nothing to segment "
                "(has the transform stage built the marts from loaded data?)"
            )
        as_of = features["as_of_date"].max()
        shares = con.sql(CATEGORY_SHARES, params={"as_of": as_of}).pl()
        customers = con.sql(CUSTOMER_ATTRIBUTES).pl() if with_customers else None
    return features, shares, customers


def write_candidates(
    duckdb: DuckDBResource, segments: pl.DataFrame, profiles: pl.DataFrame
) -> None:
    """Replace both candidate tables in one transaction, so the gate never sees a mixed pair."""
    with duckdb.get_connection() as con:
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists candidate")
            con.register("new_customer_segments", segments.to_arrow())
            con.register("new_segment_profiles", profiles.to_arrow())
            con.execute(
                "create or replace table candidate.customer_segments as "
                "select * from new_customer_segments order by customer_key"
            )
            con.execute(
                "create or replace table candidate.segment_profiles as "
                "select * from new_segment_profiles"
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            con.unregister("new_customer_segments")
            con.unregister("new_segment_profiles")


def segment_sizes_markdown(profiles: pl.DataFrame) -> str:
    return markdown_table(
        profiles.select("segment_type", "segment", "customers", "share"), max_rows=80
    )


def clusters_markdown(profiles: pl.DataFrame) -> str:
    clusters = profiles.filter(pl.col("segment_type") == "cluster_name").select(
        pl.col("segment").alias("cluster_name"), "customers", "share", "rules"
    )
    return markdown_table(clusters, max_rows=20)


def spread_markdown(spread: pl.DataFrame | None, cluster_names: dict[int, str]) -> str:
    """Per cluster and attribute, the most common values and their share within the cluster."""
    if spread is None or spread.is_empty():
        return "_no customers to describe_"
    top = (
        spread.sort("customers", descending=True)
        .group_by("cluster_id", "attribute", maintain_order=True)
        .head(3)
        .group_by("cluster_id", "attribute", maintain_order=True)
        .agg(
            pl.format("{} {}%", pl.col("value"), (pl.col("share") * 100).round(0).cast(pl.Int64))
            .str.join(", ")
            .alias("most common")
        )
        .sort("cluster_id", "attribute")
        .with_columns(
            cluster=pl.col("cluster_id").replace_strict(
                cluster_names, default=pl.col("cluster_id").cast(pl.String), return_dtype=pl.String
            )
        )
        .select("cluster", "attribute", "most common")
    )
    return markdown_table(top, max_rows=80)


def model_metadata(refit: RefitDecision, model: Any, model_path: Any) -> dict[str, Any]:
    """What a person wants to know about the clustering model of this run."""
    metadata: dict[str, Any] = {
        "refit": refit.refit,
        "refit_reason": refit.reason,
    }
    if model is None:
        metadata["model"] = "none: too few customers with orders to group"
        return metadata
    k = int(model.n_clusters_)
    scores = getattr(model, "k_scores_", {}) or {}
    metadata |= {
        "model_version": model.meta_["model_version"],
        "model_path": dg.MetadataValue.path(str(model_path)),
        "model_fit_date": model.meta_["fit_date"],
        "clusters_k": k,
        "rule_accuracy": round(float(model.rule_accuracy_), 4),
    }
    if k in scores:
        metadata["silhouette"] = round(float(scores[k]["silhouette"]), 4)
        metadata["resampling_stability_ari"] = round(float(scores[k]["stability"]), 4)
    check = model.meta_.get("previous_k_check") or {}
    if check.get("kept"):
        # the saved model's k, refitted from its centres, was kept: report that model's own score
        metadata["silhouette"] = round(float(check["silhouette"]), 4)
        metadata.pop("resampling_stability_ari", None)  # a score of the fresh fit, not this one
        fresh = (
            f"a fresh k-means with k {check['best_k']}"
            if check["best_k"] == check["previous_k"]
            else f"the best fresh k {check['best_k']}"
        )
        metadata["previous_k_kept"] = (
            f"k {check['previous_k']} kept from the saved model, refitted from its centres: "
            f"silhouette {check['silhouette']:.3f} against {check['best_silhouette']:.3f} for "
            f"{fresh}, agreement with the saved model {check['agreement_with_previous']:.3f}"
        )
    if scores:
        metadata["k_scores"] = dg.MetadataValue.md(
            markdown_table(
                pl.DataFrame(
                    [
                        {"k": c, "silhouette": s["silhouette"], "stability_ari": s["stability"]}
                        for c, s in sorted(scores.items())
                    ]
                )
            )
        )
    return metadata


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SEGMENTS_KEY,
            deps=[*MART_DEPS, CLUSTERER_KEY],
            group_name="segments",
            description="One row per customer of the latest as-of date: RFM scores and segment, "
            "frequency tier, lifecycle stage, web behaviour, category preference, ML cluster.",
            kinds={"duckdb", "scikit-learn"},
        ),
        dg.AssetSpec(
            PROFILES_KEY,
            deps=MART_DEPS,
            group_name="segments",
            description="One row per segment type and segment present today: description, "
            "rules, customers, share, and the clusters' feature means.",
            kinds={"duckdb"},
        ),
    ],
    pool=WAREHOUSE_POOL,
    can_subset=False,
)
def customer_segments(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, config: SegmentationConfig
) -> Iterator[dg.MaterializeResult]:
    """Segment every customer of the latest features: rules, and clusters with the saved model
    (refitted here when there is none yet, the settings changed, or the weekly `model_refit`
    run is a day late)."""
    from pipelines.segmentation.daily import segment_customers

    features, shares, customers = read_segmentation_inputs(duckdb)
    model_folder = get_paths().models / MODEL_SUBFOLDER
    run = segment_customers(
        features,
        model_folder,
        category_shares=shares,
        customers=customers,
        force_refit=config.force_refit,
        grace_days=DAILY_RUN_GRACE_DAYS,
    )
    segments, profiles = run.customer_segments, run.segment_profiles
    write_candidates(duckdb, segments, profiles)

    as_of = segments["as_of_date"].max()
    context.log.info(
        f"Segmented {segments.height} customers as of {as_of}; model: {run.refit.reason}"
        + (f" ({run.model.meta_['model_version']})" if run.model is not None else "")
    )
    cluster_names = dict(segments.select("cluster_id", "cluster_name").unique().iter_rows())
    yield dg.MaterializeResult(
        asset_key=SEGMENTS_KEY,
        metadata={
            "dagster/row_count": segments.height,
            "as_of_date": str(as_of),
            "segment_sizes": dg.MetadataValue.md(segment_sizes_markdown(profiles)),
            "clusters": dg.MetadataValue.md(clusters_markdown(profiles)),
            "sensitive_attributes_per_cluster": dg.MetadataValue.md(
                spread_markdown(run.sensitive_spread, cluster_names)
            ),
            **model_metadata(run.refit, run.model, run.model_path),
        },
    )
    yield dg.MaterializeResult(
        asset_key=PROFILES_KEY,
        metadata={
            "dagster/row_count": profiles.height,
            "as_of_date": str(as_of),
            "segment_types": profiles["segment_type"].n_unique(),
        },
    )


@dg.asset(
    key=CLUSTERER_KEY,
    deps=CLUSTERING_DEPS,
    group_name=MODELS_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"scikit-learn"},
)
def fitted_customer_clusterer(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """The clustering model, fitted again on the buyers of the latest features and saved under
    the models folder (the weekly `model_refit` run). Its clusters are matched to the saved
    model's, so ids and names persist where the groups barely moved; the daily run assigns every
    customer with the newest saved model."""
    from pipelines.segmentation.daily import refit_clusterer

    features, shares, _ = read_segmentation_inputs(duckdb, with_customers=False)
    refit = refit_clusterer(features, get_paths().models / MODEL_SUBFOLDER, category_shares=shares)
    context.log.info(
        f"Clustering model for {refit.customers} customers with orders: {refit.reason}"
    )
    metadata = {
        "as_of_date": str(features["as_of_date"].max()),
        "customers_fitted_on": refit.customers,
        **model_metadata(
            RefitDecision(refit.model is not None, refit.reason), refit.model, refit.model_path
        ),
    }
    if refit.model is not None:
        clusters = refit.model.profiles().select("cluster_id", "cluster_name", "customers", "share")
        metadata["clusters"] = dg.MetadataValue.md(markdown_table(clusters, max_rows=20))
    return dg.MaterializeResult(metadata=metadata)
