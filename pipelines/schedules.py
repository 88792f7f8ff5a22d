"""When the graph refreshes: every morning, after the night's exports have landed; and once a
week, an hour before that morning's refresh, the models the daily runs predict with are fitted
again in a run of their own."""

from __future__ import annotations

import dagster as dg

from pipelines.refit import MODELS_GROUP
from pipelines.settings import model_refit_cron, schedule_timezone

MODELS = dg.AssetSelection.groups(MODELS_GROUP)

daily_refresh_job = dg.define_asset_job(
    name="daily_refresh",
    selection=dg.AssetSelection.all() - MODELS,
    description="Load yesterday's landing folder, rebuild the marts and features, segment, publish.",
)

# 06:00 in PIPELINE_TIMEZONE, for the day that just ended
daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    daily_refresh_job, hour_of_day=6, minute_of_hour=0
)

model_refit_job = dg.define_asset_job(
    name="model_refit",
    selection=MODELS,
    description="Fit the clustering, churn and CLV models again on the latest features and save "
    "them; the daily runs that follow segment and predict with them.",
)


# Sunday 05:00 in PIPELINE_TIMEZONE by default (MODEL_REFIT_CRON): outside the daily run, so the
# daily run keeps its length on the refit day; a day late, the daily run refits (pipelines.refit).
def _model_refit_schedule(cron: str) -> dg.ScheduleDefinition:
    try:
        return dg.ScheduleDefinition(
            job=model_refit_job, cron_schedule=cron, execution_timezone=schedule_timezone()
        )
    except dg.DagsterInvalidDefinitionError as error:
        raise ValueError(
            f"MODEL_REFIT_CRON must be a cron line such as '0 5 * * 0' (Sundays 05:00), "
            f"found {cron!r}"
        ) from error


model_refit_schedule = _model_refit_schedule(model_refit_cron())
