"""The publish stage's definitions. No resources here: the code location provides `duckdb`."""

import dagster as dg

from pipelines.publish.assets import published_segments

defs = dg.Definitions(assets=[published_segments])
