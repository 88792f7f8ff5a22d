"""Segment thresholds (`segments.yaml`) and clustering settings (`clustering.yaml`), validated on load.

Every key has a default, so a file only needs the keys a shop owner wants to change. A wrong value
raises `SegmentConfigError` naming the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import CONFIG_DIR

SEGMENTS_PATH = CONFIG_DIR / "segments.yaml"
CLUSTERING_PATH = CONFIG_DIR / "clustering.yaml"
CATALOG_PATH = CONFIG_DIR / "catalog.yaml"

# Attributes that must not steer clustering unless a file says so explicitly.
SENSITIVE_FEATURES = ("age", "birth_year", "gender", "city", "postal_code", "country")

SEGMENT_DEFAULTS: dict[str, Any] = {
    "no_purchase_label": "No purchase yet",
    "frequency_tiers": {"high_min_orders_365d": 12, "medium_min_orders_365d": 4},
    "lifecycle": {
        "new_max_days_since_first_order": 30,
        "active_max_recency_days": 60,
        "lapsing_max_recency_days": 180,
    },
    "web_behaviour": {
        "cart_abandoner_min_abandonments_30d": 1,
        "frequent_browser_min_sessions_30d": 4,
    },
    "category_preference": {"min_top_category_share": 0.4, "mixed_label": "Mixed basket"},
}

CLUSTERING_DEFAULTS: dict[str, Any] = {
    "features": [
        "frequency_365d",
        "monetary_365d",
        "avg_order_value",
        "online_share",
        "discount_share",
        "web_sessions_90d",
        "weekend_order_share",
        "morning_order_share",
    ],
    "log_features": ["frequency_365d", "monetary_365d", "avg_order_value", "web_sessions_90d"],
    "allow_sensitive_features": False,
    "min_scale_share_of_range": 0.25,
    "k_min": 3,
    "k_max": 10,
    "silhouette_sample_size": 2000,
    "stability_bootstraps": 3,
    "stability_sample_share": 0.8,
    "min_stability_ari": 0.8,
    "minibatch_above_customers": 20000,
    "n_init": 4,
    "random_state": 0,
    "rule_tree_max_depth": 3,
    "min_name_difference": 0.5,
    "refit_every_days": 7,
    "max_match_distance": 1.0,
    "keep_k_within_silhouette": 0.03,
}


class SegmentConfigError(ValueError):
    """A segmentation YAML file holds a value the pipeline cannot use."""


def _merge(defaults: dict[str, Any], given: dict[str, Any], path: Path, prefix: str = "") -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        where = f"{prefix}{key}"
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise SegmentConfigError(f"{path}: unknown key '{where}' (expected one of: {known})")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise SegmentConfigError(
                    f"{path}: key '{where}' expected a mapping, found {value!r}"
                )
            merged[key] = _merge(defaults[key], value, path, f"{where}.")
        else:
            merged[key] = value
    return merged


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SegmentConfigError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(content, dict):
        raise SegmentConfigError(f"{path}: expected a mapping of keys, found {content!r}")
    return content


def _number(path: Path, key: str, value: Any, minimum: float = 0, maximum: float | None = None):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SegmentConfigError(f"{path}: key '{key}' expected a number, found {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise SegmentConfigError(
            f"{path}: key '{key}' expected at least {minimum}{upper}, found {value!r}"
        )


def _ordered(path: Path, low_key: str, low: float, high_key: str, high: float) -> None:
    if low >= high:
        raise SegmentConfigError(
            f"{path}: key '{low_key}' expected below '{high_key}' ({high}), found {low}"
        )


def _text(path: Path, key: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise SegmentConfigError(f"{path}: key '{key}' expected a non-empty text, found {value!r}")


def load_segment_config(path: Path | str = SEGMENTS_PATH) -> dict[str, Any]:
    """Rule thresholds from `segments.yaml`, defaults filled in, validated."""
    path = Path(path)
    config = _merge(SEGMENT_DEFAULTS, _read(path), path)
    _text(path, "no_purchase_label", config["no_purchase_label"])
    for section in ("frequency_tiers", "lifecycle", "web_behaviour"):
        for key, value in config[section].items():
            _number(path, f"{section}.{key}", value)
    tiers = config["frequency_tiers"]
    _ordered(
        path,
        "frequency_tiers.medium_min_orders_365d",
        tiers["medium_min_orders_365d"],
        "frequency_tiers.high_min_orders_365d",
        tiers["high_min_orders_365d"],
    )
    life = config["lifecycle"]
    _ordered(
        path,
        "lifecycle.active_max_recency_days",
        life["active_max_recency_days"],
        "lifecycle.lapsing_max_recency_days",
        life["lapsing_max_recency_days"],
    )
    preference = config["category_preference"]
    _number(
        path,
        "category_preference.min_top_category_share",
        preference["min_top_category_share"],
        0,
        1,
    )
    _text(path, "category_preference.mixed_label", preference["mixed_label"])
    return config


def load_clustering_config(path: Path | str = CLUSTERING_PATH) -> dict[str, Any]:
    """Clustering settings from `clustering.yaml`, defaults filled in, validated."""
    path = Path(path)
    config = _merge(CLUSTERING_DEFAULTS, _read(path), path)
    for key in ("features", "log_features"):
        value = config[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SegmentConfigError(
                f"{path}: key '{key}' expected a list of column names, found {value!r}"
            )
    sensitive = [f for f in config["features"] if f in SENSITIVE_FEATURES]
    if sensitive and config["allow_sensitive_features"] is not True:
        raise SegmentConfigError(
            f"{path}: key 'features' expected no sensitive attributes "
            f"(set allow_sensitive_features: true to use them), found {sensitive}"
        )
    if len(config["features"]) < 2:
        raise SegmentConfigError(
            f"{path}: key 'features' expected at least 2 columns, found {config['features']!r}"
        )
    stray = sorted(set(config["log_features"]) - set(config["features"]))
    if stray:
        raise SegmentConfigError(
            f"{path}: key 'log_features' expected columns listed in 'features', found {stray}"
        )
    for key in ("k_min", "k_max", "silhouette_sample_size", "minibatch_above_customers", "n_init"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise SegmentConfigError(
                f"{path}: key '{key}' expected a whole number, found {value!r}"
            )
    _number(path, "k_min", config["k_min"], 2)
    if config["k_min"] > config["k_max"]:
        raise SegmentConfigError(
            f"{path}: key 'k_min' expected at most k_max ({config['k_max']}), found {config['k_min']}"
        )
    _number(path, "min_scale_share_of_range", config["min_scale_share_of_range"], 0, 1)
    _number(path, "n_init", config["n_init"], 1)
    _number(path, "stability_bootstraps", config["stability_bootstraps"], 2)
    _number(path, "stability_sample_share", config["stability_sample_share"], 0.1, 1)
    _number(path, "min_stability_ari", config["min_stability_ari"], 0, 1)
    _number(path, "rule_tree_max_depth", config["rule_tree_max_depth"], 1, 6)
    _number(path, "min_name_difference", config["min_name_difference"], 0)
    _number(path, "refit_every_days", config["refit_every_days"], 1)
    _number(path, "max_match_distance", config["max_match_distance"], 0)
    _number(path, "keep_k_within_silhouette", config["keep_k_within_silhouette"], 0, 1)
    return config


def load_preference_names(path: Path | str = CATALOG_PATH) -> dict[str, str]:
    """Category code -> the catalogue's `preference_segment` name (e.g. coffee -> 'Coffee lovers')."""
    path = Path(path)
    content = _read(path)
    names: dict[str, str] = {}
    for row, category in enumerate(content.get("categories") or [], start=1):
        if not isinstance(category, dict) or not category.get("code"):
            raise SegmentConfigError(
                f"{path}: category {row} expected a 'code', found {category!r}"
            )
        names[category["code"]] = category.get("preference_segment") or category["code"]
    return names
