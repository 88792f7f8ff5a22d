"""The dbt command line of a transform run, built apart from the Dagster wiring so it is testable."""

from __future__ import annotations

import json
from datetime import date


def dbt_build_args(
    *, full_refresh: bool = False, features_as_of_date: date | None = None
) -> list[str]:
    """`dbt build` as the daily run calls it: incremental unless a full refresh is asked for.

    `features_as_of_date` pins the latest feature snapshot (default: the day after the newest
    activity in the data).
    """
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if features_as_of_date is not None:
        args += ["--vars", json.dumps({"features_as_of_date": features_as_of_date.isoformat()})]
    return args
