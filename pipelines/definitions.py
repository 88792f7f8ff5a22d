"""The one code location: every stage's definitions merged with the shared resources.

Loaded by `workspace.yaml` (`dagster dev`, `make ui`), `dg check defs` and the tests. Loading it
never opens the warehouse; the dbt manifest is prepared by `dbt parse` the first time.
"""

import dagster as dg

from pipelines.ingest import definitions as ingest
from pipelines.predictive import definitions as predictive
from pipelines.publish import definitions as publish
from pipelines.quality import definitions as quality
from pipelines.resources import dbt_resource, duckdb_resource
from pipelines.schedules import (
    daily_refresh_job,
    daily_refresh_schedule,
    model_refit_job,
    model_refit_schedule,
)
from pipelines.segmentation import definitions as segmentation
from pipelines.transform import definitions as transform

defs = dg.Definitions.merge(
    ingest.defs,
    transform.defs,
    quality.defs,
    segmentation.defs,
    predictive.defs,
    publish.defs,
    dg.Definitions(
        jobs=[daily_refresh_job, model_refit_job],
        schedules=[daily_refresh_schedule, model_refit_schedule],
        resources={"duckdb": duckdb_resource(), "dbt": dbt_resource()},
        # Steps run one after another in the run's process: DuckDB takes one writer at a time.
        executor=dg.in_process_executor,
    ),
)
