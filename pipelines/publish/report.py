"""The per-run HTML report: one standalone file (plots embedded as PNG), readable offline.

Sections: segment sizes, a feature heatmap (segment x feature, standardised), a 2-D projection of
customers coloured by segment (PCA on the report features), the transition matrix of each segment
type, the KPI table and each segment's description and rules.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import jinja2
import polars as pl

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

from pipelines.catalog import table_columns
from pipelines.publish.config import ReportSettings
from pipelines.publish.features import features_snapshot, snapshot_features_sql
from pipelines.publish.tables import Publication

TEMPLATE_DIR = Path(__file__).parent / "templates"
SECTIONS = ("sizes", "heatmap", "projection", "transitions", "kpis", "rules")
NEW, LEFT = "(new)", "(left)"
KPI_COLUMNS = (
    "customers",
    "share",
    "revenue_share",
    "avg_order_value",
    "purchase_frequency",
    "historical_clv",
    "retention_rate",
    "churn_rate",
    "web_to_purchase_conversion",
    "sessions_per_customer",
    "email_clicks_per_customer",
    "avg_satisfaction",
)


@dataclass(frozen=True)
class Report:
    html: str
    projection_png: bytes | None  # the key plot, also shown in the asset's metadata


def png_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def _figure(**kwargs: object) -> Figure:
    # matplotlib (and numpy, sklearn below) load when a report is drawn, not with the code location
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def _sizes_plot(sizes: pl.DataFrame, segment_types: tuple[str, ...]) -> bytes:
    columns = 3 if len(segment_types) > 4 else 2
    rows = -(-len(segment_types) // columns)
    figure = _figure(figsize=(5 * columns, 3.2 * rows))
    for index, segment_type in enumerate(segment_types, start=1):
        axes = figure.add_subplot(rows, columns, index)
        of_type = sizes.filter(pl.col("segment_type") == segment_type).sort("customers")
        axes.barh(of_type["segment"].to_list(), of_type["customers"].to_list(), color="#4c78a8")
        axes.set_title(segment_type)
        axes.set_xlabel("customers")
    figure.tight_layout()
    return _png(figure)


def _customer_features(
    con: duckdb.DuckDBPyConnection, as_of: date, features: tuple[str, ...], segment_type: str
) -> pl.DataFrame:
    selected = ", ".join(f"features.{f}::double as {f}" for f in features)
    return con.sql(
        f"""
        with latest_features as ({snapshot_features_sql()})
        select published.customer_key, published.{segment_type}::varchar as segment
            {", " + selected if selected else ""}
        from segments.customer_segments as published
        left join latest_features as features on features.customer_key = published.customer_key
        where published.{segment_type} is not null
        order by published.customer_key
        """,
        params={"features_as_of": features_snapshot(con, as_of)},
    ).pl()


def standardised_means(frame: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """Per segment, each feature's mean in standard deviations from the all-customer mean."""
    overall = frame.select(
        *[pl.col(f).mean().alias(f"{f}__mean") for f in features],
        *[pl.col(f).std().alias(f"{f}__std") for f in features],
    ).row(0, named=True)
    means = frame.group_by("segment").agg(pl.col(features).mean()).sort("segment")
    return means.with_columns(
        [
            (
                (pl.col(f) - overall[f"{f}__mean"]) / overall[f"{f}__std"]
                # a constant feature (up to float noise) says nothing about a segment
                if (overall[f"{f}__std"] or 0.0) > 1e-9 * (1 + abs(overall[f"{f}__mean"] or 0.0))
                else pl.lit(0.0)
            ).alias(f)
            for f in features
        ]
    ).fill_null(0.0)


def _heatmap_plot(zscores: pl.DataFrame, features: list[str], segment_type: str) -> bytes:
    import numpy as np

    matrix = zscores.select(features).to_numpy()
    figure = _figure(figsize=(1.1 * len(features) + 3, 0.5 * len(zscores) + 2))
    axes = figure.add_subplot()
    limit = max(1.0, float(np.nanmax(np.abs(matrix)))) if matrix.size else 1.0
    image = axes.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axes.set_xticks(range(len(features)), features, rotation=40, ha="right")
    axes.set_yticks(range(len(zscores)), zscores["segment"].to_list())
    for (row, column), value in np.ndenumerate(matrix):
        # white on the dark ends of the colour scale, so every number stays readable
        colour = "white" if abs(value) > 0.6 * limit else "black"
        axes.text(column, row, f"{value:.1f}", ha="center", va="center", fontsize=8, color=colour)
    axes.set_title(f"{segment_type}: feature means, standard deviations from all customers")
    figure.colorbar(image, ax=axes, shrink=0.8)
    return _png(figure)


def projection_coordinates(
    frame: pl.DataFrame, features: list[str], sample_size: int, seed: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """A sample of customers on the first two principal components, and their explained variance.

    Features are log-compressed (signed log1p), missing values take the feature's median, and
    every feature is scaled to unit variance before the PCA.
    """
    import numpy as np
    from sklearn.decomposition import PCA

    sample = frame.sample(n=min(sample_size, len(frame)), seed=seed) if len(frame) else frame
    filled = sample.select(
        pl.col(f).fill_nan(None).fill_null(pl.col(f).median()).fill_null(0.0) for f in features
    )
    values = filled.to_numpy().astype(float)
    values = np.sign(values) * np.log1p(np.abs(values))
    spread = values.std(axis=0)
    values = (values - values.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    pca = PCA(n_components=2, random_state=seed).fit(values)
    points = pca.transform(values)
    return (
        sample.select("customer_key", "segment").with_columns(
            pc1=pl.Series(points[:, 0]), pc2=pl.Series(points[:, 1])
        ),
        pca.explained_variance_ratio_,
    )


def _projection_plot(points: pl.DataFrame, explained: np.ndarray, segment_type: str) -> bytes:
    figure = _figure(figsize=(7.5, 5.5))
    axes = figure.add_subplot()
    segments = sorted(points["segment"].unique().to_list())
    colours = [
        "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b",
        "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#1b9e77", "#7570b3",
    ]  # fmt: skip
    for index, segment in enumerate(segments):
        of_segment = points.filter(pl.col("segment") == segment)
        axes.scatter(
            of_segment["pc1"].to_numpy(),
            of_segment["pc2"].to_numpy(),
            s=10,
            alpha=0.7,
            color=colours[index % len(colours)],
            label=f"{segment} ({len(of_segment)})",
        )
    axes.set_xlabel(f"first principal component ({explained[0]:.0%} of variance)")
    axes.set_ylabel(f"second principal component ({explained[1]:.0%} of variance)")
    axes.set_title(f"Customers coloured by {segment_type}")
    axes.legend(fontsize=8, loc="best", markerscale=2)
    return _png(figure)


def transition_matrices(
    con: duckdb.DuckDBPyConnection, as_of: date, segment_types: tuple[str, ...]
) -> dict[str, dict]:
    """Per segment type: row labels (from), column labels (to) and counts, for this as-of date."""
    transitions = con.sql(
        "select segment_type, coalesce(from_segment, $new) as from_segment, "
        "coalesce(to_segment, $left) as to_segment, customers "
        "from segments.segment_transitions where as_of_date = $as_of",
        params={"as_of": as_of, "new": NEW, "left": LEFT},
    ).pl()
    matrices = {}
    for segment_type in segment_types:
        of_type = transitions.filter(pl.col("segment_type") == segment_type)
        sources = sorted(of_type["from_segment"].unique().to_list(), key=lambda s: (s == NEW, s))
        targets = sorted(of_type["to_segment"].unique().to_list(), key=lambda s: (s == LEFT, s))
        counts = {
            (r["from_segment"], r["to_segment"]): r["customers"]
            for r in of_type.iter_rows(named=True)
        }
        matrices[segment_type] = {
            "sources": sources,
            "targets": targets,
            "cells": [[counts.get((s, t), 0) for t in targets] for s in sources],
        }
    return matrices


def _format(value: object, column: str) -> str:
    if value is None:
        return "n/a"
    if column == "customers":
        return f"{value:,}"
    if column in {
        "share",
        "revenue_share",
        "retention_rate",
        "churn_rate",
        "web_to_purchase_conversion",
    }:
        return f"{value:.1%}"
    return f"{value:,.2f}"


def build_report(
    con: duckdb.DuckDBPyConnection, publication: Publication, settings: ReportSettings
) -> Report:
    """Render the report from the `segments.*` tables this connection sees."""
    as_of = publication.as_of_date
    segment_types = publication.segment_types
    kpis = con.sql(
        "select * from segments.segment_kpis where as_of_date = $as_of order by segment_type, customers desc",
        params={"as_of": as_of},
    ).pl()
    kpi_tables = {
        segment_type: [
            {"segment": row["segment"], **{c: _format(row[c], c) for c in KPI_COLUMNS}}
            for row in kpis.filter(pl.col("segment_type") == segment_type).iter_rows(named=True)
        ]
        for segment_type in segment_types
    }

    feature_columns = set(table_columns(con, "marts.customer_features"))
    features = [f for f in settings.features if f in feature_columns]
    unavailable = [f for f in settings.features if f not in feature_columns]
    segment_type = settings.projection_segment_type
    if segment_type not in segment_types:
        segment_type = segment_types[0]
    customers = _customer_features(con, as_of, tuple(features), segment_type)

    heatmap_png = None
    if features and len(customers):
        heatmap_png = _heatmap_plot(standardised_means(customers, features), features, segment_type)
    projection_png, explained = None, None
    if len(features) >= 2 and len(customers) >= 3:
        points, explained = projection_coordinates(
            customers, features, settings.projection_sample_size, settings.random_seed
        )
        projection_png = _projection_plot(points, explained, segment_type)

    profiles = con.sql(
        "select segment_type, segment, description, rules from segments.segment_profiles "
        "order by segment_type, segment"
    ).pl()

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = environment.get_template("report.html.j2").render(
        publication=publication,
        segment_types=segment_types,
        sizes=kpis.select("segment_type", "segment", "customers", "share").to_dicts(),
        sizes_png=png_base64(_sizes_plot(kpis, segment_types)) if len(kpis) else None,
        heatmap_png=png_base64(heatmap_png) if heatmap_png else None,
        projection_png=png_base64(projection_png) if projection_png else None,
        explained=explained,
        focus_type=segment_type,
        features=features,
        unavailable=unavailable,
        sample_size=min(settings.projection_sample_size, len(customers)),
        transitions=transition_matrices(con, as_of, segment_types),
        kpi_columns=KPI_COLUMNS,
        kpi_tables=kpi_tables,
        profiles=profiles.to_dicts(),
        format=_format,
        windows={
            "activity": kpis["activity_window_days"][0] if len(kpis) else None,
            "revenue": kpis["revenue_window_days"][0] if len(kpis) else None,
        },
    )
    return Report(html=html, projection_png=projection_png)
