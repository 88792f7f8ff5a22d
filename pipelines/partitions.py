"""The daily partitions every ingest asset shares: one partition per landing-folder day."""

from __future__ import annotations

import dagster as dg

from pipelines.settings import history_start_date, schedule_timezone

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=history_start_date().isoformat(),
    timezone=schedule_timezone(),
)
