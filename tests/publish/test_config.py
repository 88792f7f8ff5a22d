"""publishing.yaml: the shipped file loads, and a bad value is named with what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.publish.config import (
    PUBLISHING_CONFIG,
    PublishingConfigError,
    load_publishing_config,
)


def test_the_shipped_settings_load():
    config = load_publishing_config()
    assert config.required_segment_types[0] == "rfm_segment"
    assert "churn_risk_band" in config.optional_segment_types
    assert config.kpis.activity_window_days == 90
    assert config.report.projection_segment_type == "cluster_name"


def write_variant(tmp_path: Path, change) -> Path:
    settings = yaml.safe_load(PUBLISHING_CONFIG.read_text())
    change(settings)
    path = tmp_path / "publishing.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["kpis"].update(activity_window_days=0),
            r"`publishing.kpis.activity_window_days` must be a whole number above 0, found 0",
        ),
        (
            lambda s: s["kpis"].update(retention_days=30),
            r"`publishing.kpis.retention_days` must be one of activity_window_days",
        ),
        (
            lambda s: s["exports"].update(email_segment_types=["rfm_segment", "favourite_colour"]),
            r"`exports.email_segment_types` must be among .*found 'favourite_colour'",
        ),
        (
            lambda s: s["report"].update(projection_segment_type="age"),
            r"`report.projection_segment_type` must be one of .*found 'age'",
        ),
        (
            lambda s: s["segment_types"].update(optional=["rfm_segment"]),
            r"must be required or optional, not both, found \['rfm_segment'\]",
        ),
        (
            lambda s: s["report"].update(features="recency_days"),
            r"`publishing.report.features` must be a list of column names, found 'recency_days'",
        ),
    ],
)
def test_a_bad_setting_is_named(tmp_path, change, message):
    path = write_variant(tmp_path, change)
    with pytest.raises(PublishingConfigError, match=message) as error:
        load_publishing_config(path)
    assert str(path) in str(error.value)
