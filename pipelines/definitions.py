"""The one code location: every stage's definitions merged with the shared resources.

Loaded by `workspace.yaml` (`dagster dev`, `make ui`), `dg check defs` and the tests. Loading it
never opens the warehouse; the dbt manifest is prepared by `dbt parse` the first time.
"""

from __future__ import annotations

import dagster as dg

from pipelines.ingest.definitions import defs as ingest_defs
from pipelines.quality.definitions import defs as quality_defs
from pipelines.resources import dbt_resource, duckdb_resource
from pipelines.schedules import daily_refresh_job, daily_refresh_schedule
from pipelines.segmentation.definitions import defs as segmentation_defs
from pipelines.transform.definitions import defs as transform_defs

shared_defs = dg.Definitions(
    jobs=[daily_refresh_job],
    schedules=[daily_refresh_schedule],
    resources={"duckdb": duckdb_resource(), "dbt": dbt_resource()},
    # Steps run one after another in the run's process: DuckDB takes one writer at a time.
    executor=dg.in_process_executor,
)

defs = dg.Definitions.merge(
    ingest_defs,
    transform_defs,
    quality_defs,
    segmentation_defs,
    shared_defs,
)
