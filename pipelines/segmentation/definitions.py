import dagster as dg

from pipelines.segmentation.assets import customer_segments

defs = dg.Definitions(assets=[customer_segments])
