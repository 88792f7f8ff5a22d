"""When the whole graph refreshes: every morning, after the night's exports have landed."""

from __future__ import annotations

import dagster as dg

daily_refresh_job = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all(),
    description="Load yesterday's landing folder, rebuild the marts and features, segment, publish.",
)

# 06:00 in PIPELINE_TIMEZONE, for the day that just ended
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    daily_refresh_job, hour_of_day=6, minute_of_hour=0
)
