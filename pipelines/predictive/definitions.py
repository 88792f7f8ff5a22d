import dagster as dg

from pipelines.predictive.assets import customer_predictions

defs = dg.Definitions(assets=[customer_predictions])
