"""What a validation found, in one shape for Great Expectations results and the SQL-computed checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# Great Expectations 1.x stores a severity on every expectation; ours are ERROR (blocks) or WARN.
GX_SEVERITY = {"critical": "ERROR", "warning": "WARN", "info": "WARN"}
SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict on one table."""

    expectation: str  # e.g. "expect_column_values_to_not_be_null(customer_id)"
    severity: str  # ERROR or WARN
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    unexpected_sample: list[Any] = field(default_factory=list)
    detail: str = ""

    @classmethod
    def of_failures(
        cls,
        expectation: str,
        severity: str,
        failures: list[Any],
        observed_value: Any = None,
        detail: str = "",
    ) -> Outcome:
        """The verdict of a check that lists what failed (days, features, ids): it passes when
        nothing did."""
        return cls(
            expectation=expectation,
            severity=severity,
            success=not failures,
            observed_value=observed_value,
            unexpected_count=len(failures),
            unexpected_sample=failures,
            detail=detail,
        )

    def as_metadata(self) -> dict[str, Any]:
        """A JSON-safe summary for the Dagster UI and the alerts."""
        entry: dict[str, Any] = {"expectation": self.expectation, "severity": self.severity}
        if self.observed_value is not None:
            entry["observed_value"] = _json_safe(self.observed_value)
        if self.unexpected_count is not None:
            entry["unexpected_count"] = self.unexpected_count
        if self.unexpected_percent is not None:
            entry["unexpected_percent"] = round(self.unexpected_percent, 2)
        if self.unexpected_sample:
            entry["sample_unexpected_values"] = _json_safe(self.unexpected_sample[:SAMPLE_SIZE])
        if self.detail:
            entry["detail"] = self.detail
        return entry


@dataclass(frozen=True)
class SuiteReport:
    """Every outcome of one suite on one table, and where its Data Docs page is."""

    suite: str
    table: str
    scope: str  # which rows were validated, in words
    row_count: int
    outcomes: list[Outcome]
    data_docs: str | None = None  # path of the HTML page for this validation
    skipped: list[str] = field(default_factory=list)  # expectations on columns not there yet

    def failed(self, severity: str) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == severity]

    def evaluated(self, severity: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.severity == severity]


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if number == number else None  # NaN is not JSON
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return str(value)


def describe_expectation(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """`expect_x(column)` or `expect_x(column_A, column_B)`: the expectation as people name it."""
    if "column" in kwargs:
        target = str(kwargs["column"])
    elif "column_A" in kwargs:
        target = f"{kwargs['column_A']}, {kwargs['column_B']}"
    elif "column_list" in kwargs:
        target = ", ".join(kwargs["column_list"])
    else:
        target = ""
    return f"{expectation_type}({target})"
