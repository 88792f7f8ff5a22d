import dagster as dg

from pipelines.transform.assets import warehouse_models

defs = dg.Definitions(assets=[warehouse_models])
