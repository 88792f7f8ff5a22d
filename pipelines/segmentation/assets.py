"""Segmentation assets: read the latest customer features, write `candidate.customer_segments`."""

from __future__ import annotations

import dagster as dg
import numpy as np
import polars as pl
from dagster_duckdb import DuckDBResource
from sklearn.cluster import KMeans
from sklearn.preprocessing import RobustScaler

from pipelines.metadata import markdown_table
from pipelines.resources import WAREHOUSE_POOL

RFM_GRID = {
    # (r_score, f_score) -> segment, coarse version of the standard grid
    "Champions": lambda r, f: (r >= 4) & (f >= 4),
    "Loyal": lambda r, f: (r >= 3) & (f >= 3),
    "New customers": lambda r, f: (r >= 4) & (f <= 1),
    "At risk": lambda r, f: (r <= 2) & (f >= 3),
    "Lost": lambda r, f: r <= 1,
}


def _quintile(values: pl.Series, reverse: bool = False) -> pl.Series:
    ranks = values.rank("ordinal") / (values.len() + 1)
    scores = (ranks * 5).floor().cast(pl.Int8) + 1
    return 6 - scores if reverse else scores


@dg.asset(
    key=["candidate", "customer_segments"],
    deps=[dg.AssetKey(["marts", "customer_features"])],
    group_name="segments",
    pool=WAREHOUSE_POOL,
)
def customer_segments(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """One row per customer: RFM segment and cluster as of the latest features."""
    with duckdb.get_connection() as con:
        features = con.sql(
            "select * from marts.customer_features "
            "where as_of_date = (select max(as_of_date) from marts.customer_features)"
        ).pl()
    buyers = features.filter(pl.col("frequency") > 0)
    scored = buyers.with_columns(
        r_score=_quintile(buyers["recency_days"], reverse=True),
        f_score=_quintile(buyers["frequency"]),
        m_score=_quintile(buyers["monetary"]),
    )
    segment = pl.lit("Need attention")
    for name, rule in reversed(RFM_GRID.items()):
        segment = (
            pl.when(rule(pl.col("r_score"), pl.col("f_score")))
            .then(pl.lit(name))
            .otherwise(segment)
        )
    scored = scored.with_columns(rfm_segment=segment)
    matrix = RobustScaler().fit_transform(
        np.log1p(scored.select("recency_days", "frequency", "monetary").cast(pl.Float64).to_numpy())
    )
    labels = KMeans(n_clusters=min(4, len(scored)), n_init=10, random_state=0).fit_predict(matrix)
    scored = scored.with_columns(cluster_id=pl.Series(labels, dtype=pl.Int32))
    scored = scored.with_columns(cluster_name=pl.format("Cluster {}", pl.col("cluster_id")))
    no_orders = features.filter(pl.col("frequency") == 0).with_columns(
        rfm_segment=pl.lit("No purchase yet"),
        cluster_id=pl.lit(-1, pl.Int32),
        cluster_name=pl.lit("No purchase yet"),
    )
    result = pl.concat(
        [
            scored.select(
                "customer_key", "as_of_date", "rfm_segment", "cluster_id", "cluster_name"
            ),
            no_orders.select(
                "customer_key", "as_of_date", "rfm_segment", "cluster_id", "cluster_name"
            ),
        ]
    )
    with duckdb.get_connection() as con:
        con.sql("create schema if not exists candidate")
        con.register("result", result.to_arrow())
        con.sql("create or replace table candidate.customer_segments as select * from result")
    summary = result.group_by("rfm_segment").len().sort("len", descending=True)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result),
            "segments": dg.MetadataValue.md(markdown_table(summary)),
        }
    )
