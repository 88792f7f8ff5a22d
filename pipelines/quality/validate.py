"""One suite on one warehouse table: select the slice, compute history checks, run GX, report.

Plain functions, no Dagster: the asset checks call `validate_target`, and so can a person or a test.
The warehouse is opened read-only and closed before Great Expectations starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from pipelines.catalog import table_columns, table_exists
from pipelines.quality import computed
from pipelines.quality.config import QualityConfig, load_quality_config
from pipelines.quality.gx_runner import run_suite
from pipelines.quality.results import Outcome, SuiteReport
from pipelines.settings import duckdb_config


@dataclass(frozen=True)
class Target:
    """A table the gates watch: its Dagster asset key, its suite and how its slice is chosen."""

    asset_key: tuple[str, ...]
    table: str  # schema.table in the warehouse
    suite: str  # expectations/expectations/<suite>.json
    kind: str  # raw | features | segments | predictions

    @property
    def name(self) -> str:
        return self.table.split(".")[1]


RAW_TABLES = ("crm_contacts", "crm_tickets", "crm_email_events", "pos_order_lines", "web_events")


def targets(config: QualityConfig | None = None) -> list[Target]:
    config = config or load_quality_config()
    segments_schema, segments_table = config.segments.table.split(".")
    predictions_schema, predictions_table = config.predictions.table.split(".")
    return [
        *(Target(("raw", t), f"raw.{t}", f"raw_{t}", "raw") for t in RAW_TABLES),
        Target(
            ("marts", "customer_features"),
            "marts.customer_features",
            "marts_customer_features",
            "features",
        ),
        Target(
            (segments_schema, segments_table),
            config.segments.table,
            f"{segments_schema}_{segments_table}",
            "segments",
        ),
        Target(
            (predictions_schema, predictions_table),
            config.predictions.table,
            f"{predictions_schema}_{predictions_table}",
            "predictions",
        ),
    ]


def validate_target(
    target: Target,
    database: str | Path,
    *,
    docs_dir: Path | None = None,
    partition_range: tuple[date, date] | None = None,
    config: QualityConfig | None = None,
) -> SuiteReport:
    """Run the target's suite and history checks; a missing table is an ERROR outcome."""
    config = config or load_quality_config()
    with duckdb.connect(str(database), read_only=True, config=duckdb_config()) as con:
        if not table_exists(con, target.table):
            return SuiteReport(
                suite=target.suite,
                table=target.table,
                scope="table missing",
                row_count=0,
                outcomes=[
                    Outcome(
                        expectation="table_exists",
                        severity="ERROR",
                        success=False,
                        detail=f"{target.table} does not exist in {database}",
                    )
                ],
            )
        query, scope, history = _slice_and_history(con, target, partition_range, config)
        columns = set(table_columns(con, target.table))
        row_count = con.sql(f"select count(*) from ({query})").fetchall()[0][0]
    report = run_suite(
        target.suite,
        database,
        query,
        table=target.name,
        columns=columns,
        scope=scope,
        row_count=row_count,
        docs_dir=docs_dir,
    )
    return SuiteReport(
        suite=report.suite,
        table=target.table,
        scope=scope,
        row_count=report.row_count,
        outcomes=[*report.outcomes, *history],
        data_docs=report.data_docs,
        skipped=report.skipped,
    )


def _slice_and_history(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    partition_range: tuple[date, date] | None,
    config: QualityConfig,
) -> tuple[str, str, list[Outcome]]:
    """The SQL selecting the rows to validate, the scope in words, and the history outcomes."""
    if target.kind == "raw":
        first, last = partition_range or (None, None)
        days = computed.days_in_scope(con, target.name, first, last)
        day_list = ", ".join(f"date '{d.isoformat()}'" for d in days) or "null"
        query = f"select * from {target.table} where _partition_date in ({day_list})"
        history = computed.raw_volume_outcomes(con, target.name, days, config.raw)
        if target.name == "pos_order_lines":
            history += computed.order_line_outcomes(con, days, config.raw)
        if "email" in table_columns(con, target.table):
            history.append(computed.email_shape_outcome(con, target.name, days))
        if not days:
            scope = "no loaded day in the run's partitions"
        elif len(days) == 1:
            scope = f"_partition_date = {days[0]}"
        else:
            scope = f"_partition_date {days[0]} .. {days[-1]} ({len(days)} loaded days)"
        return query, scope, history
    if target.kind == "features":
        (as_of,) = con.sql(f"select max(as_of_date) from {target.table}").fetchall()[0]
        query = f"select * from {target.table} where as_of_date = date '{as_of}'"
        history = computed.feature_outcomes(con, target.table, config.customer_features)
        return query, f"as_of_date = {as_of} (the latest)", history
    query = f"select * from {target.table}"
    if target.kind == "predictions":
        from pipelines.predictive.config import load_predictive_config

        history = computed.prediction_outcomes(con, config.predictions, load_predictive_config())
        return query, "the whole candidate table", history
    return query, "the whole candidate table", computed.segment_outcomes(con, config.segments)
