"""The publish asset: the checked candidates become the published `segments.*` tables.

It runs only after the blocking quality checks on `candidate/customer_segments` passed (Dagster
skips it otherwise), so a failed gate leaves the last good publication, exports and report alone.
The predictions dependency is declared even before the predictive stage defines that asset, so
the run orders publication after it once it exists; the table itself is optional.
"""

from collections.abc import Iterator

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.metadata import markdown_table
from pipelines.publish.config import load_publishing_config
from pipelines.publish.exports import snapshot_path
from pipelines.publish.publication import publish_segments, remove_stale_staging
from pipelines.publish.report import png_base64
from pipelines.publish.tables import PUBLISHED_TABLES
from pipelines.resources import WAREHOUSE_POOL
from pipelines.settings import get_paths

CANDIDATE_DEPS = [
    dg.AssetKey(["candidate", "customer_segments"]),
    dg.AssetKey(["candidate", "segment_profiles"]),
    dg.AssetKey(["candidate", "customer_predictions"]),
]
MART_DEPS = [
    dg.AssetKey(["marts", name])
    for name in ("customers", "orders", "web_sessions", "customer_features")
]

DESCRIPTIONS = {
    "customer_segments": "One row per customer: every segment type and the predictions, as of the published date.",
    "segment_profiles": "Each segment's name, description, rules and profile.",
    "segment_kpis": "KPIs per segment and as-of date: size, revenue, order value, retention, conversion, engagement.",
    "segment_membership_history": "Who was in which segment when (valid_from inclusive, valid_to exclusive).",
    "segment_transitions": "Per as-of date and segment type: customers from each segment to each segment.",
    "segment_changes": "Customers whose segment changed at the published as-of date: the trigger for email flows.",
    "publication": "The as-of date every segments.* table is valid for, when and by which run it was published.",
}

PUBLISHED_SPECS = [
    dg.AssetSpec(
        key=["segments", table],
        deps=[*CANDIDATE_DEPS, *MART_DEPS],
        group_name="publish",
        description=DESCRIPTIONS[table],
        kinds={"duckdb"},
    )
    for table in PUBLISHED_TABLES
]


@dg.multi_asset(specs=PUBLISHED_SPECS, pool=WAREHOUSE_POOL, can_subset=False)
def published_segments(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> Iterator[dg.MaterializeResult]:
    """Replace every `segments.*` table in one transaction, then the exports and the report."""
    config = load_publishing_config()
    paths = get_paths()
    for leftover in remove_stale_staging(paths.exports):
        context.log.warning(f"Removed a staging folder an interrupted publish left: {leftover}")
    with duckdb.get_connection() as con:
        outcome = publish_segments(
            con,
            config,
            exports_dir=paths.exports,
            reports_dir=paths.reports,
            run_id=context.run.run_id,
        )
        counts = {
            table: con.execute(f"select count(*) from segments.{table}").fetchall()[0][0]
            for table in PUBLISHED_TABLES
        }
        sizes = con.sql(
            "select segment_type, segment, customers, share from segments.segment_kpis "
            "where as_of_date = $as_of order by segment_type, customers desc",
            params={"as_of": outcome.publication.as_of_date},
        ).pl()
        changes = con.sql(
            "select segment_type, previous_segment, new_segment, count(*) as customers "
            "from segments.segment_changes group by all order by customers desc"
        ).pl()
    publication = outcome.publication
    context.log.info(
        f"Published {publication.customers} customers as of {publication.as_of_date}: "
        f"{len(publication.segment_types)} segment types, {publication.changes} changes; "
        f"exports in {outcome.export_dir}, report {outcome.report_path}"
    )
    as_of = publication.as_of_date.isoformat()
    for table in PUBLISHED_TABLES:
        metadata: dict[str, object] = {
            "dagster/row_count": counts[table],
            "as_of_date": as_of,
            "parquet_snapshot": dg.MetadataValue.path(
                str(snapshot_path(outcome.export_dir, table))
            ),
        }
        if table == "customer_segments":
            metadata["predictions"] = publication.predictions
            metadata["segment_types"] = ", ".join(publication.segment_types)
        if table == "segment_kpis":
            metadata["segment_sizes"] = dg.MetadataValue.md(markdown_table(sizes, max_rows=40))
        if table == "segment_changes":
            metadata["moves"] = dg.MetadataValue.md(markdown_table(changes))
        if table == "publication":
            metadata |= {
                "report": dg.MetadataValue.path(str(outcome.report_path)),
                "report_url": dg.MetadataValue.url(outcome.report_path.as_uri()),
                "latest_report": dg.MetadataValue.path(str(outcome.latest_report_path)),
                "exports": dg.MetadataValue.path(str(outcome.export_dir)),
                "email_lists": sum(1 for f in outcome.export_files if f.endswith(".csv")),
                "consenting_contacts_exported": sum(
                    rows for f, rows in outcome.export_files.items() if f.endswith(".csv")
                ),
            }
            if outcome.projection_png:
                metadata["projection"] = dg.MetadataValue.md(
                    f"![customers by segment](data:image/png;base64,"
                    f"{png_base64(outcome.projection_png)})"
                )
        yield dg.MaterializeResult(asset_key=["segments", table], metadata=metadata)
