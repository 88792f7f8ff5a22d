"""Dagster assets: one per raw table, daily-partitioned, a date range loaded in a single run.

A source's entities are loaded by one multi-asset (one read per entity over all the run's days),
and `raw.quarantine` is written by the same assets (it is not an asset of its own).
"""

from collections import Counter
from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from pipelines.ingest.catalog import load_categories, write_product_categories
from pipelines.ingest.loader import EntityReport, FileReport, LoadReport, load_days
from pipelines.ingest.schema import REASONS, entities_of
from pipelines.metadata import markdown_table
from pipelines.partitions import daily_partitions
from pipelines.resources import WAREHOUSE_POOL
from pipelines.settings import get_paths

GROUP = "ingest"


def raw_key(source: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"{source}_{entity}"])


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """Every day of the run's partition range (one day, or a whole backfill range)."""
    return sorted(date.fromisoformat(key) for key in context.partition_keys)


def _files_table(files: list[FileReport]) -> dg.MetadataValue:
    if not files:
        return dg.MetadataValue.md("_no files landed_")
    table = pl.DataFrame(
        [
            {
                "file": f.file,
                "day": f.partition_date.isoformat(),
                "read": f.rows_read,
                "loaded": f.rows_loaded,
                "quarantined": f.rows_quarantined,
            }
            for f in files
        ]
    )
    return dg.MetadataValue.md(markdown_table(table, max_rows=50))


def _reasons(counts: Counter[str]) -> dg.MetadataValue:
    return dg.MetadataValue.json({reason: counts.get(reason, 0) for reason in REASONS})


def day_metadata(files: list[FileReport]) -> dict[str, dg.MetadataValue]:
    """One day's counts: what that partition's materialization shows in the UI."""
    loaded = sum(f.rows_loaded for f in files)
    reasons: Counter[str] = Counter()
    for f in files:
        reasons.update(f.quarantined_by_reason)
    return {
        "rows_read": dg.MetadataValue.int(sum(f.rows_read for f in files)),
        "rows_loaded": dg.MetadataValue.int(loaded),
        "rows_quarantined": dg.MetadataValue.int(sum(f.rows_quarantined for f in files)),
        "quarantined_by_reason": _reasons(reasons),
        "files_read": dg.MetadataValue.int(len(files)),
        "files": _files_table(files),
        "dagster/row_count": dg.MetadataValue.int(loaded),
    }


def run_metadata(
    report: EntityReport, days: list[date], files_ignored: list[str]
) -> dict[str, dg.MetadataValue]:
    """What the whole run loaded; shown once, on the newest day's materialization."""
    metadata = {
        "days": dg.MetadataValue.text(
            f"{days[0]} .. {days[-1]} ({len(days)} days)" if days else "none"
        ),
        "mapping": dg.MetadataValue.text(report.mapping),
        "quarantine_sample": dg.MetadataValue.md(
            markdown_table(pl.DataFrame(report.quarantine_sample))
            if report.quarantine_sample
            else "_nothing quarantined_"
        ),
    }
    if len(days) > 1:
        metadata |= {
            "run_rows_read": dg.MetadataValue.int(report.rows_read),
            "run_rows_loaded": dg.MetadataValue.int(report.rows_loaded),
            "run_rows_quarantined": dg.MetadataValue.int(report.rows_quarantined),
            "run_quarantined_by_reason": _reasons(Counter(report.quarantined_by_reason)),
            "run_files_read": dg.MetadataValue.int(len(report.files)),
            "run_files": _files_table(report.files),
        }
    if files_ignored:
        metadata["files_ignored"] = dg.MetadataValue.json(files_ignored)
    return metadata


def _materializations(
    context: dg.AssetExecutionContext, report: LoadReport, days: list[date]
) -> Iterator[dg.MaterializeResult]:
    """One materialization per day (Dagster's, for the partitions view), each with its own counts.

    A range run's summary (files, reasons, sample) goes on the newest day only: repeated on every
    day it made each of a two-year backfill's 2,190 events 7 kB instead of about 1 kB.
    """
    for entity in entities_of(report.source):
        entity_report = report.entities[entity.name]
        key = raw_key(report.source, entity.name)
        files_by_day: dict[date, list[FileReport]] = {}
        for f in entity_report.files:
            files_by_day.setdefault(f.partition_date, []).append(f)
        for day in days:
            metadata = day_metadata(files_by_day.get(day, []))
            if day == days[-1]:
                metadata |= run_metadata(entity_report, days, report.files_ignored)
            context.add_asset_metadata(metadata, asset_key=key, partition_key=day.isoformat())
        yield dg.MaterializeResult(asset_key=key)


def _load_source(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, source: str
) -> Iterator[dg.MaterializeResult]:
    days = partition_days(context)
    incoming = get_paths().incoming
    with duckdb.get_connection() as con:
        report = load_days(con, source, days, incoming)
    context.log.info(
        f"{source}: {report.rows_read} rows read from {incoming / source} for {len(days)} days: "
        f"{report.rows_loaded} loaded, {report.rows_quarantined} quarantined"
    )
    yield from _materializations(context, report, days)


def _specs(source: str, deps: list[dg.AssetKey] | None = None) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            raw_key(source, entity.name),
            description=f"{source} {entity.name.replace('_', ' ')} from data/incoming/{source}/, "
            "canonical columns plus lineage; rejected rows go to raw.quarantine.",
            group_name=GROUP,
            deps=deps or [],
            kinds={"duckdb"},
        )
        for entity in entities_of(source)
    ]


_partitioned = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "pool": WAREHOUSE_POOL,
}


@dg.multi_asset(name="ingest_crm", specs=_specs("crm"), **_partitioned)
def ingest_crm(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> Iterator[dg.MaterializeResult]:
    """CRM contacts, tickets and email events of the run's days."""
    yield from _load_source(context, duckdb, "crm")


@dg.multi_asset(
    name="ingest_pos", specs=_specs("pos", deps=[raw_key("crm", "contacts")]), **_partitioned
)
def ingest_pos(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> Iterator[dg.MaterializeResult]:
    """POS order lines of the run's days; customer ids are checked against the loaded contacts."""
    yield from _load_source(context, duckdb, "pos")


@dg.multi_asset(name="ingest_web", specs=_specs("web"), **_partitioned)
def ingest_web(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> Iterator[dg.MaterializeResult]:
    """Web analytics events of the run's days."""
    yield from _load_source(context, duckdb, "web")


@dg.asset(
    key=["raw", "product_categories"],
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
)
def product_categories(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The catalogue's categories from pipelines/config/catalog.yaml, replaced on every run."""
    categories = load_categories()
    with duckdb.get_connection() as con:
        write_product_categories(con, categories)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(categories.height),
            "categories": dg.MetadataValue.md(markdown_table(categories)),
        }
    )


ingest_assets = [ingest_crm, ingest_pos, ingest_web, product_categories]
partitioned_raw_keys = [
    raw_key(entity.source, entity.name)
    for source in ("crm", "pos", "web")
    for entity in entities_of(source)
]
