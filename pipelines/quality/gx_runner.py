"""Run a Great Expectations 1.x suite from `expectations/` on one slice of a warehouse table.

The suites are the JSON files of the file project in `expectations/expectations/`; each run builds
an ephemeral context (nothing is written into the project) and renders Data Docs as static HTML
under the data folder, one site per suite.

Why pandas and not a SQL datasource on DuckDB: with great-expectations 1.24, duckdb-engine 0.17,
SQLAlchemy 2.1 and duckdb 2.0 every metric query comes back empty (GX reads the result after
closing the connection, fivetran/great_expectations#11579) and column reflection fails
(duckdb-engine inherits PostgreSQL's catalogue queries). So the slice under test is selected in
DuckDB and handed to GX as a DataFrame; history comparisons run as SQL (`computed.py`).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.quality.results import GX_SEVERITY, Outcome, SuiteReport, describe_expectation
from pipelines.settings import EXPECTATIONS_DIR

SUITES_DIR = EXPECTATIONS_DIR / "expectations"


class SuiteNotFoundError(FileNotFoundError):
    """No suite JSON of that name in expectations/expectations/."""


def suite_path(suite_name: str) -> Path:
    return SUITES_DIR / f"{suite_name}.json"


def load_suite_json(suite_name: str) -> dict[str, Any]:
    path = suite_path(suite_name)
    if not path.exists():
        known = sorted(p.stem for p in SUITES_DIR.glob("*.json"))
        raise SuiteNotFoundError(f"{path}: no such suite; the project has {known}")
    return json.loads(path.read_text())


def read_slice(database: str | Path, query: str) -> pd.DataFrame:
    """The rows to validate, read through a short-lived read-only connection."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql(query).df()


def run_suite(
    suite_name: str,
    frame: pd.DataFrame,
    *,
    table: str,
    scope: str,
    docs_dir: Path | None = None,
) -> SuiteReport:
    """Validate `frame` against the suite; render Data Docs under `docs_dir/<suite>/` if given."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.expectation_suite import ExpectationSuite

    # GX logs progress bars and usage hints at INFO/WARNING; the check metadata says what matters.
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    stored = load_suite_json(suite_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False}
    actions = []
    if docs_dir is not None:
        site = docs_dir / suite_name
        context.add_data_docs_site(
            site_name=suite_name,
            site_config={
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(site),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        actions.append(UpdateDataDocsAction(name="data_docs", site_names=[suite_name]))
    expectations, skipped = applicable_expectations(stored["expectations"], set(frame.columns))
    suite = context.suites.add(
        ExpectationSuite(
            name=stored["name"], expectations=expectations, meta=stored.get("meta") or {}
        )
    )
    batch = (
        context.data_sources.add_pandas("warehouse")
        .add_dataframe_asset(table)
        .add_batch_definition_whole_dataframe("slice")
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}_on_{table}", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite_name}_checkpoint",
            validation_definitions=[validation],
            actions=actions,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    (run_result,) = result.run_results.values()
    outcomes = [_outcome(r) for r in run_result.results]
    page = _latest_page(docs_dir / suite_name, suite_name) if docs_dir is not None else None
    return SuiteReport(
        suite=suite_name,
        table=table,
        scope=scope,
        row_count=len(frame),
        outcomes=outcomes,
        data_docs=page,
        skipped=skipped,
    )


def _outcome(result: Any) -> Outcome:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    severity = GX_SEVERITY.get(getattr(config.severity, "value", str(config.severity)), "ERROR")
    details = result.result or {}
    exception = result.exception_info or {}
    raised = exception.get("raised_exception") if isinstance(exception, dict) else False
    sample = details.get("partial_unexpected_list") or []
    return Outcome(
        expectation=describe_expectation(config.type, kwargs),
        severity=severity,
        success=bool(result.success),
        observed_value=details.get("observed_value"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        unexpected_sample=list(sample),
        detail=f"could not be evaluated: {exception.get('exception_message')}" if raised else "",
    )


def _latest_page(site: Path, suite_name: str) -> str:
    """This validation's HTML page: the newest under the site's validations/<suite>/ folder."""
    pages = sorted(
        (site / "validations" / suite_name).rglob("*.html"), key=lambda p: p.stat().st_mtime
    )
    return str(pages[-1] if pages else site / "index.html")


def applicable_expectations(
    expectations: list[dict[str, Any]], columns: set[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Drop expectations marked `when_column_present` whose columns the table does not have yet.

    Used for columns another stage adds later (predictions, richer features); the suite's column-set
    expectation still says which contract columns are missing.
    """
    kept, skipped = [], []
    for expectation in expectations:
        kwargs = expectation.get("kwargs", {})
        needed = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        needed += list(kwargs.get("column_list", []))
        optional = (expectation.get("meta") or {}).get("when_column_present", False)
        if optional and not set(needed) <= columns:
            skipped.append(describe_expectation(expectation["type"], kwargs))
        else:
            kept.append(expectation)
    return kept, skipped
