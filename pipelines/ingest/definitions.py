"""The ingest stage's Dagster definitions; resources (`duckdb`) come from the top level."""

import dagster as dg

from pipelines.ingest.assets import ingest_assets
from pipelines.ingest.sensors import incoming_files_sensor

defs = dg.Definitions(assets=ingest_assets, sensors=[incoming_files_sensor])
