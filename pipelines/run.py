"""`make run`: sample data if there is none, every asset materialized through Dagster, a summary.

The runs go into the project's Dagster instance (`DAGSTER_HOME`, default `<project>/.dagster`),
so `make ui` shows them in the run history. The whole landing history is loaded in one run:
the ingest assets take a partition range at once (single-run backfill policy). That run is every
asset: the daily graph and the `models` group the weekly `model_refit` job refits, so nothing in
the UI is left "never materialized" and the models are fitted once, before the daily assets that
segment and predict with them.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta

import dagster as dg
import duckdb

from pipelines.catalog import table_exists
from pipelines.settings import PROJECT_ROOT, duckdb_config, get_paths


def landed_days() -> list[date]:
    """The day folders under data/incoming/<source>/ that hold at least one file."""
    days: set[date] = set()
    incoming = get_paths().incoming
    for day_dir in incoming.glob("*/*"):
        try:
            day = date.fromisoformat(day_dir.name)
        except ValueError:
            continue
        if day_dir.is_dir() and any(p.is_file() for p in day_dir.iterdir()):
            days.add(day)
    return sorted(days)


def materialize_history(
    first: date, last: date, *, every_asset: bool = False
) -> dg.ExecuteInProcessResult:
    """One run over the landed days `first` .. `last`, in process, into the project's instance.

    By default the run is the daily schedule's job (`daily_refresh`), whose segmentation and
    predictions fit a model themselves only when none is saved or it is overdue. `every_asset`
    also selects the `models` group, as `make run` does: the models are fitted in the run first,
    and the daily assets then use them.
    """
    from pipelines.definitions import defs
    from pipelines.partitions import daily_partitions

    keys = daily_partitions.get_partition_keys()
    start, end = max(first.isoformat(), keys[0]), min(last.isoformat(), keys[-1])
    job = (
        defs.resolve_implicit_global_asset_job_def()
        if every_asset
        else defs.resolve_job_def("daily_refresh")
    )
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance,
            # the console shows progress and problems; every event is still in the UI
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            tags={
                "dagster/asset_partition_range_start": start,
                "dagster/asset_partition_range_end": end,
                "dagster/from": "make run",
            },
            raise_on_error=False,
        )


SUMMARY_TYPES = (
    ("rfm_segment", "RFM segment"),
    ("cluster_name", "Customer group (clustering)"),
    ("predictive_segment", "Predictive segment"),
)


def segment_summary() -> str:
    """Segment, customers and share per segment type, as a shop owner reads them."""
    with duckdb.connect(str(get_paths().warehouse), read_only=True, config=duckdb_config()) as con:
        as_of = con.execute("select max(as_of_date) from segments.customer_segments").fetchall()[0][
            0
        ]
        columns = set(con.table("segments.customer_segments").columns)
        tables = []
        for column, title in SUMMARY_TYPES:
            if column not in columns:
                continue
            rows = con.sql(
                f"""
                select coalesce({column}, '(none)') as segment, count(*) as customers,
                       round(100.0 * count(*) / sum(count(*)) over (), 1) as share
                from segments.customer_segments
                group by 1
                order by customers desc, segment
                """
            ).fetchall()
            tables.append((title, rows))
    lines = [f"Segments as of {as_of}"]
    for title, rows in tables:
        width = max(len(title), *(len(r[0]) for r in rows))
        lines += ["", f"{title:<{width}}  customers   share"]
        lines += [f"{name:<{width}}  {n:>9}  {share:>5.1f}%" for name, n, share in rows]
        lines.append(f"{'total':<{width}}  {sum(r[1] for r in rows):>9}")
    return "\n".join(lines)


def failure_report(result: dg.ExecuteInProcessResult) -> str:
    """Which steps failed, which blocking checks stopped publication, and what is still published."""
    lines = []
    failed_steps = [e for e in result.all_events if e.is_step_failure]
    for event in failed_steps:
        error = event.step_failure_data.error
        message = error.message.strip().splitlines()[0] if error else "no message"
        lines.append(f"  step {event.step_key} failed: {message}")
    for event in result.all_events:
        if event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            continue
        check = event.event_specific_data
        if check.passed or check.severity != dg.AssetCheckSeverity.ERROR:
            continue
        lines.append(
            f"  blocking check {check.asset_key.to_user_string()} / {check.check_name} failed"
        )
    lines.append(published_state())
    return "\n".join(lines)


def published_state() -> str:
    """What a shop owner may still use after a failed run: the last good publication, if any."""
    warehouse = get_paths().warehouse
    if not warehouse.exists():
        return "Nothing has been published yet."
    with duckdb.connect(str(warehouse), read_only=True, config=duckdb_config()) as con:
        if not table_exists(con, "segments.publication"):
            return "Nothing has been published yet."
        as_of, published_at = con.execute(
            "select as_of_date, published_at from segments.publication"
        ).fetchall()[0]
    return (
        f"The segments published at {published_at:%Y-%m-%d %H:%M} stay in place; "
        f"they are valid as of {as_of}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster"))
    # one planned event per asset for the whole range, not one per day (see docs/performance.md)
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")

    paths = get_paths()
    if not landed_days():
        from pipelines.sample_data import generate

        end = date.today() - timedelta(days=1)
        print(
            f"No data in {paths.incoming}: generating a sample ({args.customers} customers, {args.days} days)"
        )
        generate(paths.data_dir, customers=args.customers, days=args.days, end_date=end)
    days = landed_days()
    print(f"Materializing every asset for {days[0]} .. {days[-1]} into {paths.warehouse}")
    result = materialize_history(days[0], days[-1], every_asset=True)
    if not result.success:
        print(
            f"The run {result.run_id} failed (details with `make ui`):\n{failure_report(result)}",
            file=sys.stderr,
        )
        return 1
    print(f"Run {result.run_id} succeeded (see it with `make ui`).\n")
    print(segment_summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
