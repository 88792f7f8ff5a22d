"""A day's segmentation end to end: refit weekly, assign daily, profiles for every segment."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.segmentation.config import CLUSTERING_DEFAULTS, load_segment_config
from pipelines.segmentation.daily import PROFILE_COLUMNS, SEGMENT_COLUMNS, segment_customers
from pipelines.segmentation.rules import SEGMENT_TYPES
from tests.segmentation.planted import AS_OF, FEATURES, planted_customers

CONFIG = {
    **CLUSTERING_DEFAULTS,
    "features": FEATURES,
    "log_features": ["frequency_365d", "monetary_365d", "avg_order_value"],
    "k_max": 5,
    "silhouette_sample_size": 500,
}
PREFERENCES = {"breakfast": "Breakfast regulars", "coffee": "Coffee lovers"}


def features_on(day_offset: int, rows: int = 600, new_customers: int = 0) -> pl.DataFrame:
    """The planted customers as the features mart shows them `day_offset` days after AS_OF."""
    frame = planted_customers(rows=rows, jitter=0.03 if day_offset else 0.0)
    if new_customers:
        extra = planted_customers(rows=new_customers, seed=42).with_columns(
            customer_key=pl.format("new-{}", pl.col("customer_key"))
        )
        frame = pl.concat([frame, extra])
    signup = frame.head(1).with_columns(
        customer_key=pl.lit("signup"), recency_days=None, frequency_365d=0.0
    )
    frame = pl.concat([frame, signup])
    return frame.with_columns(
        as_of_date=pl.lit(AS_OF + timedelta(days=day_offset)),
        frequency=pl.col("frequency_365d"),
        monetary=pl.col("monetary_365d"),
        first_order_at=pl.lit(datetime(2025, 1, 1)),
        tenure_days=pl.lit(400),
        web_sessions_30d=pl.lit(0),
        cart_abandonments_30d=pl.lit(0),
        is_first_time_visitor=pl.lit(False),
        top_category=pl.when(pl.col("share_breakfast") >= 0.5)
        .then(pl.lit("breakfast"))
        .otherwise(pl.lit("coffee")),
        top_category_share=pl.max_horizontal("share_breakfast", 1 - pl.col("share_breakfast")),
    )


def run(day_offset: int, folder, force_refit: bool = False, **options):
    return segment_customers(
        features_on(day_offset, **options),
        folder,
        force_refit=force_refit,
        segment_config=load_segment_config(),
        clustering_config=CONFIG,
        preference_names=PREFERENCES,
    )


@pytest.fixture(scope="module")
def first_day(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return folder, run(0, folder)


def test_first_day_fits_saves_and_segments_everyone(first_day) -> None:
    folder, result = first_day
    assert result.refit.refit and result.refit.reason == "no saved model yet"
    assert result.model_path is not None and result.model_path.parent == folder
    segments = result.customer_segments
    assert segments.columns == list(SEGMENT_COLUMNS)
    assert segments.height == 601
    assert segments["customer_key"].n_unique() == 601
    for column in (*SEGMENT_TYPES, "cluster_id", "cluster_name"):
        assert segments[column].null_count() == 0, column
    signup = segments.filter(pl.col("customer_key") == "signup").row(0, named=True)
    assert (signup["cluster_id"], signup["cluster_name"]) == (-1, "No purchase yet")
    assert signup["rfm_segment"] == "No purchase yet"


def test_profiles_describe_every_segment_present(first_day) -> None:
    _, result = first_day
    profiles = result.segment_profiles
    assert profiles.columns == list(PROFILE_COLUMNS)
    segments = result.customer_segments
    for segment_type in (*SEGMENT_TYPES, "cluster_name"):
        of_type = profiles.filter(pl.col("segment_type") == segment_type)
        assert set(of_type["segment"]) == set(segments[segment_type]), segment_type
        assert of_type["customers"].sum() == segments.height
    described = profiles.filter(pl.col("description") == "")
    assert described.is_empty(), described
    clusters = profiles.filter(
        (pl.col("segment_type") == "cluster_name") & (pl.col("segment") != "No purchase yet")
    )
    assert clusters["feature_means"].null_count() == 0
    assert clusters["rules"].str.contains(" <= | > ").all()


def test_next_day_assigns_with_the_saved_model_new_customers_included(first_day) -> None:
    folder, first = first_day
    next_day = run(1, folder, new_customers=40)
    assert not next_day.refit.refit
    assert next_day.model_path == first.model_path
    segments = next_day.customer_segments
    newcomers = segments.filter(pl.col("customer_key").str.starts_with("new-"))
    assert newcomers.height == 40
    assert set(newcomers["cluster_name"]) <= set(first.model.cluster_names_.values())
    kept = first.customer_segments.join(segments, on="customer_key", suffix="_next")
    same = (kept["cluster_id"] == kept["cluster_id_next"]).mean()
    print(f"\nday 2 with the saved model: same cluster for {same:.3f} of customers")
    assert same >= 0.9


def test_a_week_later_the_refit_keeps_ids_and_names(first_day) -> None:
    folder, first = first_day
    week_later = run(7, folder)
    assert week_later.refit.refit
    assert "7 days old" in week_later.refit.reason
    assert week_later.model_path != first.model_path
    assert week_later.model.cluster_names_ == first.model.cluster_names_
    kept = first.customer_segments.join(
        week_later.customer_segments, on="customer_key", suffix="_later"
    )
    same = float(np.mean(kept["cluster_id"].to_numpy() == kept["cluster_id_later"].to_numpy()))
    print(f"\nweekly refit: same cluster id for {same:.3f} of customers")
    assert same >= 0.9


def test_the_same_customers_in_another_row_order_get_the_same_segments(tmp_path) -> None:
    # the warehouse returns rows in no fixed order; the fit samples rows by position
    features = features_on(0)
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=5)
    runs = [
        segment_customers(
            frame,
            tmp_path / name,
            segment_config=load_segment_config(),
            clustering_config=CONFIG,
            preference_names=PREFERENCES,
        )
        for name, frame in (("as_read", features), ("shuffled", shuffled))
    ]

    assert runs[1].model.k_scores_ == runs[0].model.k_scores_
    segments = [run.customer_segments.sort("customer_key") for run in runs]
    assert segments[1].equals(segments[0])


def test_a_requested_refit_runs_before_the_model_is_due_and_keeps_ids(tmp_path) -> None:
    first = run(0, tmp_path)
    requested = run(1, tmp_path, force_refit=True)
    assert requested.refit.refit
    assert (
        requested.refit.reason
        == "refit requested; otherwise saved model is 1 days old (refit every 7)"
    )
    assert requested.model_path != first.model_path
    assert requested.model.meta_["previous_version"] == first.model.meta_["model_version"]
    assert requested.model.cluster_names_ == first.model.cluster_names_
