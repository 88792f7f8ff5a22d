"""Publishing settings from `pipelines/config/publishing.yaml`, validated on load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import CONFIG_DIR

PUBLISHING_CONFIG = CONFIG_DIR / "publishing.yaml"


class PublishingConfigError(ValueError):
    """publishing.yaml holds a value the publish stage cannot use."""


@dataclass(frozen=True)
class KpiWindows:
    activity_window_days: int
    revenue_window_days: int


@dataclass(frozen=True)
class ReportSettings:
    features: tuple[str, ...]
    projection_segment_type: str
    projection_sample_size: int
    random_seed: int


@dataclass(frozen=True)
class PublishingConfig:
    required_segment_types: tuple[str, ...]
    optional_segment_types: tuple[str, ...]
    kpis: KpiWindows
    email_segment_types: tuple[str, ...]
    report: ReportSettings
    # dated export folders and reports kept; older ones are deleted after a publication
    keep_publications: int = 30

    @property
    def segment_types(self) -> tuple[str, ...]:
        return self.required_segment_types + self.optional_segment_types


class _Section:
    """One mapping of the YAML; every error names the file and the key path."""

    def __init__(self, source: Path, path: str, values: Any) -> None:
        self.source, self.path = source, path
        if not isinstance(values, dict):
            self.fail(path, "a mapping", values)
        self.values: dict[str, Any] = values

    def fail(self, key: str, expected: str, found: Any) -> None:
        raise PublishingConfigError(f"{self.source}: `{key}` must be {expected}, found {found!r}")

    def only(self, *keys: str) -> None:
        unknown = sorted(set(self.values) - set(keys))
        if unknown:
            self.fail(f"{self.path}.{unknown[0]}", f"one of {', '.join(keys)}", unknown[0])

    def section(self, key: str) -> _Section:
        return _Section(self.source, f"{self.path}.{key}", self.values.get(key))

    def positive_int(self, key: str) -> int:
        value = self.values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self.fail(f"{self.path}.{key}", "a whole number above 0", value)
        return value

    def integer(self, key: str) -> int:
        value = self.values.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{self.path}.{key}", "a whole number", value)
        return value

    def names(self, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.values.get(key)
        if (
            not isinstance(value, list)
            or (not value and not allow_empty)
            or not all(isinstance(v, str) and v.isidentifier() for v in value)
        ):
            self.fail(f"{self.path}.{key}", "a list of column names", value)
        if len(set(value)) != len(value):
            self.fail(f"{self.path}.{key}", "a list without repeats", value)
        return tuple(value)

    def name(self, key: str) -> str:
        value = self.values.get(key)
        if not isinstance(value, str) or not value.isidentifier():
            self.fail(f"{self.path}.{key}", "a column name", value)
        return value


def load_publishing_config(path: Path = PUBLISHING_CONFIG) -> PublishingConfig:
    """Read and validate publishing.yaml; raises PublishingConfigError naming the bad key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PublishingConfigError(f"{path}: cannot read the publishing settings: {exc}") from exc
    root = _Section(path, "publishing", raw)
    root.only("segment_types", "kpis", "exports", "report")

    types = root.section("segment_types")
    types.only("required", "optional")
    required = types.names("required")
    optional = types.names("optional", allow_empty=True)
    if set(required) & set(optional):
        types.fail(
            "segment_types", "required or optional, not both", sorted(set(required) & set(optional))
        )
    every_type = required + optional

    kpis = root.section("kpis")
    kpis.only("activity_window_days", "revenue_window_days")

    exports = root.section("exports")
    exports.only("email_segment_types", "keep_publications")
    email_types = exports.names("email_segment_types", allow_empty=True)
    for segment_type in email_types:
        if segment_type not in every_type:
            exports.fail("exports.email_segment_types", f"among {list(every_type)}", segment_type)

    report = root.section("report")
    report.only("features", "projection_segment_type", "projection_sample_size", "random_seed")
    projection_type = report.name("projection_segment_type")
    if projection_type not in every_type:
        report.fail("report.projection_segment_type", f"one of {list(every_type)}", projection_type)

    return PublishingConfig(
        required_segment_types=required,
        optional_segment_types=optional,
        kpis=KpiWindows(
            activity_window_days=kpis.positive_int("activity_window_days"),
            revenue_window_days=kpis.positive_int("revenue_window_days"),
        ),
        email_segment_types=email_types,
        keep_publications=exports.positive_int("keep_publications"),
        report=ReportSettings(
            features=report.names("features"),
            projection_segment_type=projection_type,
            projection_sample_size=report.positive_int("projection_sample_size"),
            random_seed=report.integer("random_seed"),
        ),
    )
