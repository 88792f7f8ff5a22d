"""One Dagster run of `daily_refresh` or `model_refit`, executed in this process (the benchmark's
subprocess).

    python -m bench.pipeline_run --first 2025-01-01 --last 2025-12-31 --out run.json
    python -m bench.pipeline_run --day 2026-01-01 --out run.json
    python -m bench.pipeline_run --job model_refit --out run.json

A range is loaded the way `make run` does (one run, partition-range tags); a single day the way
the daily schedule does (one partition); `--job model_refit` is the weekly run that fits the
clustering, churn and CLV models again, as its schedule starts it. The environment
(SEGMENTS_DATA_DIR, WAREHOUSE_PATH, DAGSTER_HOME, PIPELINE_START_DATE) is set by the caller.
Writes the run id, its outcome and which stage each step belongs to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import dagster as dg

# asset group -> stage of the report; steps that materialize nothing are asset checks
STAGE_OF_GROUP = {
    "ingest": "ingest",
    "staging": "transform",
    "intermediate": "transform",
    "marts": "transform",
    "segments": "segmentation",
    "predictive": "segmentation",
    "publish": "publish",
    "models": "models",
}
DAILY, MODEL_REFIT = "daily_refresh", "model_refit"


def stage_of(group: str | None) -> str:
    return STAGE_OF_GROUP.get(group or "", group or "other")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", help="first day of a partition range (YYYY-MM-DD)")
    parser.add_argument("--last", help="last day of a partition range (YYYY-MM-DD)")
    parser.add_argument("--day", help="one partition (YYYY-MM-DD), as the daily schedule runs")
    parser.add_argument(
        "--job",
        choices=(DAILY, MODEL_REFIT),
        default=DAILY,
        help="model_refit: the weekly run that fits the models again (no days)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if (args.job == MODEL_REFIT) == bool(args.day or args.first or args.last):
        parser.error("give --day or --first/--last for daily_refresh, neither for model_refit")

    imported_at = time.time()
    from pipelines.definitions import defs

    job = defs.resolve_job_def(args.job)
    asset_graph = defs.resolve_asset_graph()
    import_s = time.time() - imported_at
    with dg.DagsterInstance.get() as instance:
        if args.job == MODEL_REFIT:
            result = job.execute_in_process(
                instance=instance, tags={"dagster/from": "make bench"}, raise_on_error=False
            )
        elif args.day:
            result = job.execute_in_process(
                instance=instance,
                partition_key=args.day,
                tags={"dagster/from": "make bench"},
                raise_on_error=False,
            )
        else:
            result = job.execute_in_process(
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": args.first,
                    "dagster/asset_partition_range_end": args.last,
                    "dagster/from": "make bench",
                },
                raise_on_error=False,
            )
    stages: dict[str, str] = {}
    for event in result.all_events:
        if event.is_step_materialization and event.step_key and event.asset_key:
            group = asset_graph.get(event.asset_key).group_name
            stages.setdefault(event.step_key, stage_of(group))
    for event in result.all_events:
        # a step that only evaluates asset checks is one of the quality gates
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and event.step_key:
            stages.setdefault(event.step_key, "quality")
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    args.out.write_text(
        json.dumps(
            {
                "run_id": result.run_id,
                "success": result.success,
                "failed_steps": failed,
                "step_stages": stages,
                "definitions_import_s": import_s,
            },
            indent=2,
        )
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
