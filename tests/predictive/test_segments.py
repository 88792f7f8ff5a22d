"""Predictive segments from tier, risk and p_alive; predictive.yaml validation."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.predictive.config import DEFAULTS, PredictiveConfigError, load_predictive_config
from pipelines.predictive.segments import predictive_segment

AS_OF = date(2026, 6, 1)


def test_each_customer_lands_in_the_segment_the_rules_give() -> None:
    customers = pl.DataFrame(
        {
            "customer_key": ["vip_leaving", "gone", "newcomer", "regular", "browser"],
            "value_tier": ["High", "Low", "High", "Medium", None],
            "churn_risk_band": ["high", "high", "low", "low", None],
            "p_alive": [0.2, 0.1, 0.95, 0.9, None],
            "first_purchase": [
                date(2024, 1, 1),
                date(2024, 3, 1),
                date(2026, 4, 1),
                date(2025, 1, 1),
                None,
            ],
        }
    )
    segments = predictive_segment(customers, AS_OF, DEFAULTS["segments"]).to_list()
    # High value at risk wins over Likely lost: the shop still has a reason to call.
    assert segments == [
        "High value at risk",
        "Likely lost",
        "Rising stars",
        "Steady",
        "No purchase yet",
    ]


def test_config_file_overrides_defaults_and_rejects_bad_values(tmp_path: Path) -> None:
    good = tmp_path / "predictive.yaml"
    good.write_text("churn:\n  horizon_days: 60\nclv:\n  value_tiers: {Gold: 0.1}\n")
    config = load_predictive_config(good)
    assert config["churn"]["horizon_days"] == 60
    assert config["churn"]["risk_bands"] == DEFAULTS["churn"]["risk_bands"]
    assert config["clv"]["value_tiers"] == {"Gold": 0.1}

    bad = tmp_path / "bad.yaml"
    bad.write_text("churn:\n  risk_bands: {medium_from: 0.8, high_from: 0.5}\n")
    with pytest.raises(PredictiveConfigError, match=r"bad.yaml.*medium_from.*0.8 and 0.5"):
        load_predictive_config(bad)
    bad.write_text("churn:\n  horizon: 90\n")
    with pytest.raises(PredictiveConfigError, match=r"unknown key 'churn.horizon'"):
        load_predictive_config(bad)


def test_shipped_predictive_yaml_is_valid() -> None:
    assert load_predictive_config()["churn"]["horizon_days"] == 90
