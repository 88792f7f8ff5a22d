"""Dagster asset checks: one suite per watched table, reported as two checks.

- `quality_gate` (blocking): fails when an ERROR expectation fails; the assets downstream of the
  table do not run in that run, so nothing built on bad data is published.
- `quality_warnings` (not blocking): fails with severity WARN when a WARN expectation fails.

Both come from one validation, so the table is read once per run.
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.quality.config import load_quality_config
from pipelines.quality.results import Outcome, SuiteReport
from pipelines.quality.validate import Target, targets, validate_target
from pipelines.resources import WAREHOUSE_POOL
from pipelines.settings import get_paths

GATE = "quality_gate"
WARNINGS = "quality_warnings"
SHOWN_FAILURES = 25


def partition_range_from_tags(tags: dict[str, str]) -> tuple[date, date] | None:
    """The daily partitions a run loaded, from its tags; None when the run is not partitioned."""
    if "dagster/partition" in tags:
        day = date.fromisoformat(tags["dagster/partition"])
        return day, day
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if start and end:
        return date.fromisoformat(start), date.fromisoformat(end)
    return None


def failures_markdown(failures: list[Outcome]) -> str:
    """The failed expectations as a table a person can read in the check's metadata panel."""
    lines = [
        "| expectation | observed | unexpected | sample unexpected values |",
        "|---|---|---|---|",
    ]
    for outcome in failures[:SHOWN_FAILURES]:
        entry = outcome.as_metadata()
        cells = [
            entry["expectation"],
            _cell(entry.get("observed_value", entry.get("detail", ""))),
            _cell(entry.get("unexpected_count", "")),
            _cell(entry.get("sample_unexpected_values", "")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(failures) > SHOWN_FAILURES:
        lines.append(f"\n_{len(failures) - SHOWN_FAILURES} more failed expectations_")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def check_result(report: SuiteReport, target: Target, check_name: str) -> dg.AssetCheckResult:
    severity = "ERROR" if check_name == GATE else "WARN"
    failures = report.failed(severity)
    metadata: dict[str, Any] = {
        "suite": report.suite,
        "table": report.table,
        "scope": report.scope,
        "validated_rows": report.row_count,
        "evaluated_expectations": len(report.evaluated(severity)),
        "failed_expectations": len(failures),
        "failed": dg.MetadataValue.json([f.as_metadata() for f in failures]),
    }
    if failures:
        metadata["failures"] = dg.MetadataValue.md(failures_markdown(failures))
    if report.skipped:
        metadata["skipped_expectations"] = dg.MetadataValue.json(report.skipped)
    if report.data_docs:
        metadata["data_docs"] = dg.MetadataValue.path(report.data_docs)
        metadata["data_docs_url"] = dg.MetadataValue.url(f"file://{report.data_docs}")
    if failures:
        names = ", ".join(f.expectation for f in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        description = (
            f"{len(failures)} {severity} expectation(s) failed on {report.table} "
            f"({report.scope}): {names}{more}"
        )
    else:
        description = f"All {severity} expectations passed on {report.table} ({report.scope})"
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(list(target.asset_key)),
        check_name=check_name,
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR if severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=description,
    )


def build_suite_check(target: Target) -> dg.AssetChecksDefinition:
    key = dg.AssetKey(list(target.asset_key))

    @dg.multi_asset_check(
        name=f"{target.suite}_suite",
        specs=[
            dg.AssetCheckSpec(
                GATE,
                asset=key,
                blocking=True,
                description=f"ERROR expectations of the `{target.suite}` suite; blocks downstream",
            ),
            dg.AssetCheckSpec(
                WARNINGS,
                asset=key,
                description=f"WARN expectations of the `{target.suite}` suite; alerts only",
            ),
        ],
        pool=WAREHOUSE_POOL,
        compute_kind="great_expectations",
    )
    def _suite_check(
        context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
    ) -> Iterator[dg.AssetCheckResult]:
        config = load_quality_config()
        report = validate_target(
            target,
            duckdb.database,
            docs_dir=get_paths().docs / config.data_docs_subdir,
            partition_range=partition_range_from_tags(context.run.tags),
            config=config,
        )
        context.log.info(
            f"{report.suite}: {len(report.outcomes)} expectations on {report.row_count} rows "
            f"({report.scope}); Data Docs: {report.data_docs}"
        )
        yield check_result(report, target, GATE)
        yield check_result(report, target, WARNINGS)

    return _suite_check


suite_checks = [build_suite_check(t) for t in targets()]
