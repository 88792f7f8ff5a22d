"""quality.yaml is validated on load, and the suites agree with the product catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.quality.config import QUALITY_CONFIG, QualityConfigError, load_quality_config
from pipelines.quality.gx_runner import load_suite_json
from pipelines.settings import CONFIG_DIR


def test_the_shipped_thresholds_load() -> None:
    config = load_quality_config()

    assert config.raw.row_count.lookback_days == 7
    assert config.customer_features.drift.severity == "WARN"
    assert config.segments.table == "candidate.customer_segments"


def write_variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(QUALITY_CONFIG.read_text())
    change(data)
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_unknown_severity_names_the_key(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda d: d["raw"]["quarantine_share"].update(severity="FATAL"))

    with pytest.raises(
        QualityConfigError, match=r"quality\.raw\.quarantine_share\.severity.*'FATAL'"
    ):
        load_quality_config(path)


def test_inverted_segment_bounds_are_refused(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path,
        lambda d: d["segments"]["segment_types"]["rfm_segment"].update(
            min_segments=9, max_segments=3
        ),
    )

    with pytest.raises(
        QualityConfigError, match="rfm_segment`: min_segments 9 is above max_segments 3"
    ):
        load_quality_config(path)


@pytest.mark.parametrize(
    ("suite", "column"),
    [
        ("raw_pos_order_lines", "category_code"),
        ("raw_web_events", "category_code"),
        ("marts_customer_features", "top_category"),
    ],
)
def test_suites_accept_exactly_the_catalogue_codes(suite: str, column: str) -> None:
    catalogue = yaml.safe_load((CONFIG_DIR / "catalog.yaml").read_text())
    codes = {c["code"] for c in catalogue["categories"]}

    (expectation,) = [
        e
        for e in load_suite_json(suite)["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and e["kwargs"]["column"] == column
    ]

    assert set(expectation["kwargs"]["value_set"]) == codes, (
        f"expectations/expectations/{suite}.json: {column} codes differ from catalog.yaml"
    )


def test_the_gx_file_project_loads_with_a_suite_and_validation_per_target(tmp_path: Path) -> None:
    import shutil

    import great_expectations as gx

    from pipelines.quality.validate import targets
    from pipelines.settings import EXPECTATIONS_DIR

    # a copy, so opening the project writes nothing into the checkout
    project = shutil.copytree(
        EXPECTATIONS_DIR, tmp_path / "expectations", ignore=shutil.ignore_patterns("uncommitted")
    )
    context = gx.get_context(mode="file", context_root_dir=str(project))

    suites = {suite.name for suite in context.suites.all()}
    validations = {v.name: v.suite.name for v in context.validation_definitions.all()}
    expected = {t.suite for t in targets()}
    assert suites == expected
    assert validations == {name: name for name in expected}


def test_a_negative_minimum_of_rows_per_day_names_the_key(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda d: d["raw"].update(min_rows_per_day=0))

    with pytest.raises(
        QualityConfigError, match=r"quality\.raw\.min_rows_per_day` must be a whole number >= 1"
    ):
        load_quality_config(path)


def test_the_predictions_section_is_required(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda d: d.pop("predictions"))

    with pytest.raises(QualityConfigError, match=r"`quality\.predictions` is missing"):
        load_quality_config(path)
