"""Predictive settings (`predictive.yaml`), validated on load.

Every key has a default, so the file only needs what a shop owner wants to change. A wrong value
raises `PredictiveConfigError` naming the file, the key, what was expected and what was found.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import CONFIG_DIR

PREDICTIVE_PATH = CONFIG_DIR / "predictive.yaml"

DEFAULTS: dict[str, Any] = {
    "clv": {
        "horizon_months": 12,
        "monthly_discount_rate": 0.01,
        # Share of buying customers per tier, from the top of predicted CLV; the rest is rest_label.
        "value_tiers": {"High": 0.2, "Medium": 0.3},
        "rest_label": "Low",
        # Fewer customers with a repeat purchase than this: no CLV fit, CLV columns null.
        "min_repeat_customers": 100,
        # Fit BG/NBD and Gamma-Gamma this often; the runs in between predict with the saved fit.
        "refit_every_days": 7,
    },
    "churn": {
        "horizon_days": 90,
        "risk_bands": {"medium_from": 0.4, "high_from": 0.7},
        "exclude_features": ["first_order_at", "last_order_at", "top_category"],
        "max_training_rows": 500_000,
        # Train on the history this often; the runs in between score with the saved model.
        "refit_every_days": 7,
        "max_iter": 50,
        "learning_rate": 0.05,
        "random_state": 0,
    },
    "segments": {
        "no_purchase_label": "No purchase yet",
        "high_value_at_risk": {"value_tiers": ["High"], "risk_bands": ["high"]},
        "rising_stars": {"max_days_since_first_purchase": 180, "value_tiers": ["High"]},
        "likely_lost": {"max_p_alive": 0.3},
        "steady_label": "Steady",
    },
}


class PredictiveConfigError(ValueError):
    """`predictive.yaml` holds a value the pipeline cannot use."""


def _merge(defaults: dict[str, Any], given: dict[str, Any], path: Path, prefix: str = "") -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        where = f"{prefix}{key}"
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise PredictiveConfigError(f"{path}: unknown key '{where}' (expected one of: {known})")
        default = defaults[key]
        # value_tiers is a free mapping of tier names: replaced whole, not merged.
        if isinstance(default, dict) and key != "value_tiers":
            if not isinstance(value, dict):
                raise PredictiveConfigError(
                    f"{path}: '{where}' must be a mapping, found {type(value).__name__} {value!r}"
                )
            merged[key] = _merge(default, value, path, f"{where}.")
        else:
            merged[key] = value
    return merged


def _number(config: dict, path: Path, key: str, low: float, high: float) -> None:
    section, _, name = key.rpartition(".")
    node = config
    for part in section.split("."):
        node = node[part]
    value = node[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise PredictiveConfigError(
            f"{path}: '{key}' must be a number from {low} to {high}, found {value!r}"
        )


def validate(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """Check ranges and relations; return the config unchanged."""
    _number(config, path, "clv.horizon_months", 1, 120)
    _number(config, path, "clv.monthly_discount_rate", 0, 1)
    _number(config, path, "clv.min_repeat_customers", 2, 10_000_000)
    _number(config, path, "clv.refit_every_days", 1, 365)
    _number(config, path, "churn.horizon_days", 1, 730)
    _number(config, path, "churn.max_training_rows", 1000, 100_000_000)
    _number(config, path, "churn.refit_every_days", 1, 365)
    _number(config, path, "churn.risk_bands.medium_from", 0, 1)
    _number(config, path, "churn.risk_bands.high_from", 0, 1)
    _number(config, path, "segments.likely_lost.max_p_alive", 0, 1)
    _number(config, path, "segments.rising_stars.max_days_since_first_purchase", 1, 3650)
    bands = config["churn"]["risk_bands"]
    if bands["medium_from"] >= bands["high_from"]:
        raise PredictiveConfigError(
            f"{path}: 'churn.risk_bands.medium_from' must be below 'high_from', "
            f"found {bands['medium_from']} and {bands['high_from']}"
        )
    tiers = config["clv"]["value_tiers"]
    shares = list(tiers.values()) if isinstance(tiers, dict) else []
    if (
        not shares
        or any(isinstance(s, bool) or not isinstance(s, int | float) or s <= 0 for s in shares)
        or sum(shares) > 1
    ):
        raise PredictiveConfigError(
            f"{path}: 'clv.value_tiers' must map tier names to positive shares adding up to at "
            f"most 1, found {tiers!r}"
        )
    return config


def load_predictive_config(path: Path | None = None) -> dict[str, Any]:
    """Defaults overlaid with the YAML file (missing file: defaults)."""
    path = path or PREDICTIVE_PATH
    given: Any = {}
    if path.exists():
        given = yaml.safe_load(path.read_text()) or {}
    if not isinstance(given, dict):
        raise PredictiveConfigError(f"{path}: expected a mapping at the top, found {given!r}")
    return validate(_merge(DEFAULTS, given, path), path)
