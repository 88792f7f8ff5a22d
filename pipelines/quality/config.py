"""Quality thresholds from `pipelines/config/quality.yaml`, validated on load with clear messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import CONFIG_DIR

QUALITY_CONFIG = CONFIG_DIR / "quality.yaml"
SEVERITIES = ("ERROR", "WARN")


class QualityConfigError(ValueError):
    """quality.yaml holds a value the gates cannot use."""


@dataclass(frozen=True)
class RowCountRule:
    lookback_days: int
    min_history_days: int
    min_median_rows: int
    collapse_ratio_to_median: float  # ERROR below this share of the median
    drop_ratio_to_median: float  # WARN below this share of the median


@dataclass(frozen=True)
class RawRules:
    row_count: RowCountRule
    min_rows_per_day: int  # a smaller day's shares only warn alone; small days are also pooled
    max_quarantine_share: float
    quarantine_severity: str
    identified_share_max_drop: float
    identified_share_min_standard_errors: float
    identified_share_severity: str
    max_return_share: float
    min_net_revenue: float
    returns_severity: str


@dataclass(frozen=True)
class DriftRule:
    features: tuple[str, ...]
    quantiles: tuple[float, ...]
    max_relative_change: float
    min_absolute_change: float
    severity: str


@dataclass(frozen=True)
class FeatureRules:
    drift: DriftRule
    min_customers_ratio: float
    customers_severity: str
    min_customers: int  # below this in the previous snapshot: shrink warns, no drift comparison


@dataclass(frozen=True)
class SegmentBounds:
    min_segments: int
    max_segments: int


@dataclass(frozen=True)
class SegmentRules:
    table: str
    features_table: str
    segment_types: dict[str, SegmentBounds]
    severity: str


@dataclass(frozen=True)
class PredictionRules:
    table: str
    features_table: str
    severity: str


@dataclass(frozen=True)
class QualityConfig:
    data_docs_subdir: str
    raw: RawRules
    customer_features: FeatureRules
    segments: SegmentRules
    predictions: PredictionRules


class _Reader:
    """Reads one section of the YAML, naming the file and key path in every error."""

    def __init__(self, data: Any, path: Path, where: str) -> None:
        if not isinstance(data, dict):
            raise QualityConfigError(f"{path}: `{where}` must be a mapping, found {data!r}")
        self.data, self.path, self.where = data, path, where

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise QualityConfigError(f"{self.path}: `{self.where}.{key}` is missing")
        return self.data[key]

    def section(self, key: str) -> _Reader:
        return _Reader(self._get(key), self.path, f"{self.where}.{key}")

    def number(self, key: str, low: float | None = None, high: float | None = None) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QualityConfigError(
                f"{self.path}: `{self.where}.{key}` must be a number, found {value!r}"
            )
        if (low is not None and value < low) or (high is not None and value > high):
            raise QualityConfigError(
                f"{self.path}: `{self.where}.{key}` must be between {low} and {high}, found {value}"
            )
        return float(value)

    def integer(self, key: str, low: int = 0) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise QualityConfigError(
                f"{self.path}: `{self.where}.{key}` must be a whole number >= {low}, found {value!r}"
            )
        return value

    def severity(self, key: str = "severity") -> str:
        value = self._get(key)
        if value not in SEVERITIES:
            raise QualityConfigError(
                f"{self.path}: `{self.where}.{key}` must be ERROR or WARN, found {value!r}"
            )
        return value

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise QualityConfigError(
                f"{self.path}: `{self.where}.{key}` must be a non-empty text, found {value!r}"
            )
        return value

    def names(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QualityConfigError(
                f"{self.path}: `{self.where}.{key}` must be a list of column names, found {value!r}"
            )
        return tuple(value)


def load_quality_config(path: Path = QUALITY_CONFIG) -> QualityConfig:
    """Parse and validate quality.yaml; every error names the file and the key."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise QualityConfigError(f"{path}: not valid YAML: {exc}") from exc
    top = _Reader(data, path, "quality")
    raw = top.section("raw")
    row_count = raw.section("row_count")
    identified = raw.section("identified_share")
    quarantine = raw.section("quarantine_share")
    features = top.section("customer_features")
    drift = features.section("drift")
    segments = top.section("segments")
    predictions = top.section("predictions")
    quantiles = drift._get("quantiles")
    if not isinstance(quantiles, list) or not all(
        isinstance(q, int | float) and 0 < q < 1 for q in quantiles
    ):
        raise QualityConfigError(
            f"{path}: `quality.customer_features.drift.quantiles` must be numbers strictly "
            f"between 0 and 1, found {quantiles!r}"
        )
    types_reader = segments.section("segment_types")
    segment_types: dict[str, SegmentBounds] = {}
    for name in types_reader.data:
        bounds = types_reader.section(name)
        low, high = bounds.integer("min_segments", 1), bounds.integer("max_segments", 1)
        if low > high:
            raise QualityConfigError(
                f"{path}: `quality.segments.segment_types.{name}`: min_segments {low} is above "
                f"max_segments {high}"
            )
        segment_types[name] = SegmentBounds(low, high)
    return QualityConfig(
        data_docs_subdir=top.text("data_docs_subdir"),
        raw=RawRules(
            row_count=RowCountRule(
                lookback_days=row_count.integer("lookback_days", 1),
                min_history_days=row_count.integer("min_history_days", 1),
                min_median_rows=row_count.integer("min_median_rows", 0),
                collapse_ratio_to_median=row_count.number("collapse_ratio_to_median", 0, 1),
                drop_ratio_to_median=row_count.number("drop_ratio_to_median", 0, 1),
            ),
            min_rows_per_day=raw.integer("min_rows_per_day", 1),
            max_quarantine_share=quarantine.number("max_share", 0, 1),
            quarantine_severity=quarantine.severity(),
            identified_share_max_drop=identified.number("max_drop_vs_median", 0, 1),
            identified_share_min_standard_errors=identified.number("min_standard_errors", 0),
            identified_share_severity=identified.severity(),
            max_return_share=raw.number("max_return_share", 0, 1),
            min_net_revenue=raw.number("min_net_revenue"),
            returns_severity=raw.severity("returns_severity"),
        ),
        customer_features=FeatureRules(
            drift=DriftRule(
                features=drift.names("features"),
                quantiles=tuple(float(q) for q in quantiles),
                max_relative_change=drift.number("max_relative_change", 0),
                min_absolute_change=drift.number("min_absolute_change", 0),
                severity=drift.severity(),
            ),
            min_customers_ratio=features.number("min_customers_ratio", 0, 1),
            customers_severity=features.severity("customers_severity"),
            min_customers=features.integer("min_customers", 0),
        ),
        segments=SegmentRules(
            table=segments.text("table"),
            features_table=segments.text("features_table"),
            segment_types=segment_types,
            severity=segments.severity(),
        ),
        predictions=PredictionRules(
            table=predictions.text("table"),
            features_table=predictions.text("features_table"),
            severity=predictions.severity(),
        ),
    )
