"""`make run`: sample data if there is none, every asset materialized through Dagster, a summary.

The runs go into the project's Dagster instance (`DAGSTER_HOME`, default `<project>/.dagster`),
so `make ui` shows them in the run history. The whole landing history is loaded in one run:
the ingest assets take a partition range at once (single-run backfill policy).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta

import dagster as dg
import duckdb

from pipelines.settings import PROJECT_ROOT, get_paths


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


def materialize_history(first: date, last: date) -> dg.ExecuteInProcessResult:
    from pipelines.definitions import defs
    from pipelines.partitions import daily_partitions

    keys = daily_partitions.get_partition_keys()
    start, end = max(first.isoformat(), keys[0]), min(last.isoformat(), keys[-1])
    job = defs.resolve_job_def("daily_refresh")
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": start,
                "dagster/asset_partition_range_end": end,
                "dagster/from": "make run",
            },
            raise_on_error=False,
        )


def segment_summary() -> str:
    """Segment, customers and share, as a shop owner reads them."""
    with duckdb.connect(str(get_paths().warehouse), read_only=True) as con:
        as_of = con.sql("select max(as_of_date) from segments.customer_segments").fetchone()[0]
        rows = con.sql(
            """
            select rfm_segment, count(*) as customers,
                   round(100.0 * count(*) / sum(count(*)) over (), 1) as share
            from segments.customer_segments
            group by rfm_segment
            order by customers desc
            """
        ).fetchall()
    width = max(len(r[0]) for r in rows)
    lines = [f"Segments as of {as_of}", f"{'segment':<{width}}  customers   share"]
    lines += [f"{name:<{width}}  {customers:>9}  {share:>5.1f}%" for name, customers, share in rows]
    lines.append(f"{'total':<{width}}  {sum(r[1] for r in rows):>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster"))

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
    result = materialize_history(days[0], days[-1])
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        print(
            f"The run {result.run_id} failed at {', '.join(failed) or 'a step'}; see `make ui`.",
            file=sys.stderr,
        )
        return 1
    print(f"Run {result.run_id} succeeded (see it with `make ui`).\n")
    print(segment_summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
