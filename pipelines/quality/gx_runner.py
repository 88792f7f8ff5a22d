"""Run a Great Expectations 1.x suite from `expectations/` on one slice of a warehouse table.

The suites are the JSON files of the file project in `expectations/expectations/`; each run builds
an ephemeral context (nothing is written into the project) and renders Data Docs as static HTML
under the data folder, one site per suite.

Validation runs inside DuckDB: a GX SQL datasource on the warehouse file (opened read-only, through
`duckdb_dialect.py`) with a query asset for the slice, so expectations become SQL aggregates and
only their results and a few sample rows reach Python. The engine is disposed before returning, so
no connection outlives the check.
"""

from __future__ import annotations

import html
import json
import logging
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.quality.results import GX_SEVERITY, Outcome, SuiteReport, describe_expectation
from pipelines.settings import EXPECTATIONS_DIR, duckdb_config

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


def run_suite(
    suite_name: str,
    database: str | Path,
    query: str,
    *,
    table: str,
    columns: set[str],
    scope: str,
    row_count: int,
    docs_dir: Path | None = None,
) -> SuiteReport:
    """Validate the rows of `query` against the suite, in DuckDB; Data Docs to `docs_dir/<suite>/`.

    `columns` are the table's columns (expectations on optional columns it lacks are skipped).
    """
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
        from pipelines.quality.docs_views import site_views

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
                # GX's views, compiling their templates once per process, not once per suite
                **site_views(),
            },
        )
        actions.append(UpdateDataDocsAction(name="data_docs", site_names=[suite_name]))
    expectations, skipped = applicable_expectations(stored["expectations"], columns)
    suite = context.suites.add(
        ExpectationSuite(
            name=stored["name"], expectations=expectations, meta=stored.get("meta") or {}
        )
    )
    # sqlalchemy and duckdb_engine load here, not when the code location loads
    from pipelines.quality.duckdb_dialect import readonly_url

    datasource = context.data_sources.add_sql(
        name="warehouse",
        connection_string=readonly_url(str(database)),
        kwargs={"connect_args": {"read_only": True, "config": duckdb_config()}},
    )
    batch = datasource.add_query_asset(name=table, query=query).add_batch_definition_whole_table(
        "slice"
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
    try:
        result = checkpoint.run()
    finally:
        # close the pooled read-only connections (the datasource's and the execution engine's):
        # the next step may need to open the file for writing
        datasource.get_engine().dispose()
        datasource.get_execution_engine().engine.dispose()
    (run_result,) = result.run_results.values()
    outcomes = [_outcome(r) for r in run_result.results]
    page = None
    if docs_dir is not None:
        page = _latest_page(docs_dir / suite_name, suite_name)
        write_docs_overview(docs_dir)
    return SuiteReport(
        suite=suite_name,
        table=table,
        scope=scope,
        row_count=row_count,
        outcomes=outcomes,
        data_docs=page,
        skipped=skipped,
    )


def _outcome(result: Any) -> Outcome:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    severity = GX_SEVERITY.get(getattr(config.severity, "value", str(config.severity)), "ERROR")
    details = result.result or {}
    raised, message = _exception(result.exception_info)
    sample = details.get("partial_unexpected_list") or []
    return Outcome(
        expectation=describe_expectation(config.type, kwargs),
        severity=severity,
        success=bool(result.success),
        observed_value=details.get("observed_value"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        unexpected_sample=list(sample),
        detail=f"could not be evaluated: {message}" if raised else "",
    )


def _exception(info: Any) -> tuple[bool, str]:
    """Whether evaluating the expectation raised, and the message (GX nests it per metric)."""
    if not isinstance(info, dict):
        return False, ""
    if "raised_exception" in info:
        return bool(info["raised_exception"]), str(info.get("exception_message") or "")
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return True, str(nested.get("exception_message") or "")
    return False, ""


def _latest_page(site: Path, suite_name: str) -> str:
    """This validation's HTML page: the newest under the site's validations/<suite>/ folder."""
    pages = sorted(
        (site / "validations" / suite_name).rglob("*.html"), key=lambda p: p.stat().st_mtime
    )
    return str(pages[-1] if pages else site / "index.html")


def write_docs_overview(docs_dir: Path) -> Path:
    """`<docs_dir>/index.html`: one link per suite to its Data Docs site and latest validation."""
    rows = []
    for site in sorted(p for p in docs_dir.iterdir() if (p / "index.html").exists()):
        latest = Path(_latest_page(site, site.name))
        rows.append(
            f'<tr><td><a href="{site.name}/index.html">{html.escape(site.name)}</a></td>'
            f'<td><a href="{latest.relative_to(docs_dir).as_posix()}">latest validation</a></td>'
            f"<td>{datetime.fromtimestamp(latest.stat().st_mtime).isoformat(timespec='seconds')}</td></tr>"
        )
    overview = docs_dir / "index.html"
    overview.write_text(
        "<!doctype html><meta charset=utf-8><title>Data quality: Data Docs</title>"
        "<h1>Data quality suites</h1><table><tr><th>suite</th><th>page</th><th>validated at</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return overview


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
