"""Wrong values in segments.yaml and clustering.yaml stop the run with a message naming them."""

import pytest

from pipelines.segmentation.config import (
    CLUSTERING_PATH,
    SEGMENTS_PATH,
    SegmentConfigError,
    load_clustering_config,
    load_segment_config,
)


def test_the_shipped_files_are_valid() -> None:
    assert (
        load_segment_config(SEGMENTS_PATH)["category_preference"]["mixed_label"] == "Mixed basket"
    )
    assert load_clustering_config(CLUSTERING_PATH)["k_min"] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lifecycle:\n  active_max_days: 60\n", "unknown key 'lifecycle.active_max_days'"),
        ("frequency_tiers:\n  high_min_orders_365d: many\n", "expected a number, found 'many'"),
        (
            "frequency_tiers:\n  high_min_orders_365d: 3\n",
            "'frequency_tiers.medium_min_orders_365d' expected below",
        ),
        (
            "lifecycle:\n  active_max_recency_days: 200\n",
            "'lifecycle.active_max_recency_days' expected below 'lifecycle.lapsing_max_recency_days'",
        ),
        (
            "category_preference:\n  min_top_category_share: 40\n",
            "expected at least 0 and at most 1, found 40",
        ),
        ("lifecycle: 30\n", "key 'lifecycle' expected a mapping, found 30"),
        ("- a list\n", "expected a mapping of keys"),
        ("frequency_tiers: [\n", "not valid YAML"),
    ],
)
def test_segment_file_errors_name_file_key_and_value(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text(text)
    with pytest.raises(SegmentConfigError, match=r"segments\.yaml") as error:
        load_segment_config(path)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features: [recency_days, gender]\n", "expected no sensitive attributes"),
        ("features: [recency_days]\nlog_features: []\n", "expected at least 2 columns"),
        (
            "log_features: [return_rate]\n",
            "expected columns listed in 'features', found ['return_rate']",
        ),
        ("k_min: 6\nk_max: 4\n", "key 'k_min' expected at most k_max (4), found 6"),
        ("k_max: 4.5\n", "key 'k_max' expected a whole number, found 4.5"),
        ("min_stability_ari: 2\n", "expected at least 0 and at most 1, found 2"),
        (
            "min_scale_share_of_range: 1.5\n",
            "key 'min_scale_share_of_range' expected at least 0 and at most 1, found 1.5",
        ),
    ],
)
def test_clustering_file_errors_name_file_key_and_value(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "clustering.yaml"
    path.write_text(text)
    with pytest.raises(SegmentConfigError, match=r"clustering\.yaml") as error:
        load_clustering_config(path)
    assert message in str(error.value)


def test_sensitive_features_only_when_the_file_allows_them(tmp_path) -> None:
    path = tmp_path / "clustering.yaml"
    path.write_text(
        "features: [frequency_365d, gender]\nlog_features: []\nallow_sensitive_features: true\n"
    )
    assert load_clustering_config(path)["features"] == ["frequency_365d", "gender"]
