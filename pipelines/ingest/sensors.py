"""A sensor that notices new (or changed) day folders under data/incoming and loads them.

It only looks at the file system, never at the warehouse. Its cursor remembers a fingerprint
(file names and sizes) of every day folder it has launched; a new day, or a day whose files
changed (a late file), launches one run per run of consecutive days.
Turn it on in the UI (Automation > incoming_files_sensor > Start) or with
`dagster sensor start incoming_files_sensor`.
"""

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pipelines.ingest.assets import partitioned_raw_keys
from pipelines.partitions import daily_partitions
from pipelines.settings import get_paths


def day_fingerprints(incoming_dir: Path) -> dict[str, str]:
    """Day (YYYY-MM-DD) -> fingerprint of the files landed for it, over every source."""
    files: dict[str, list[str]] = {}
    for day_dir in sorted(incoming_dir.glob("*/*")):
        try:
            date.fromisoformat(day_dir.name)
        except ValueError:
            continue
        if not day_dir.is_dir():
            continue
        for path in sorted(day_dir.iterdir()):
            if path.is_file() and not path.name.startswith((".", "_")):
                stat = path.stat()
                files.setdefault(day_dir.name, []).append(
                    f"{day_dir.parent.name}/{path.name}:{stat.st_size}"
                )
    return {
        day: hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]
        for day, names in files.items()
    }


def consecutive_runs(days: list[str]) -> list[tuple[str, str]]:
    """Sorted days grouped into (first, last) runs of consecutive days."""
    runs: list[tuple[str, str]] = []
    for day in sorted(days):
        if runs and date.fromisoformat(runs[-1][1]) + timedelta(days=1) == date.fromisoformat(day):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def run_requests(
    fingerprints: dict[str, str], seen: dict[str, str], valid_keys: set[str]
) -> tuple[list[dg.RunRequest], dict[str, str]]:
    """Run requests for new or changed days that are partitions already, and the new cursor."""
    due = sorted(d for d, f in fingerprints.items() if d in valid_keys and seen.get(d) != f)
    requests = []
    for first, last in consecutive_runs(due):
        run_key = f"incoming:{first}..{last}:" + "".join(fingerprints[d] for d in (first, last))
        if first == last:
            requests.append(
                dg.RunRequest(
                    run_key=run_key, partition_key=first, asset_selection=partitioned_raw_keys
                )
            )
        else:
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    asset_selection=partitioned_raw_keys,
                    tags={
                        "dagster/asset_partition_range_start": first,
                        "dagster/asset_partition_range_end": last,
                    },
                )
            )
    cursor = {**seen, **{d: fingerprints[d] for d in due}}
    return requests, cursor


@dg.sensor(
    name="incoming_files_sensor",
    target=partitioned_raw_keys,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Loads day folders that appear (or change) under data/incoming/<source>/.",
)
def incoming_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    fingerprints = day_fingerprints(get_paths().incoming)
    # today's folder is not a partition until the day is over: it is picked up then
    valid_keys = set(daily_partitions.get_partition_keys())
    requests, cursor = run_requests(fingerprints, seen, valid_keys)
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason("no new or changed day folders"),
            cursor=json.dumps(cursor, sort_keys=True),
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
