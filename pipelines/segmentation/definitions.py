import dagster as dg

from pipelines.segmentation.assets import customer_segments, fitted_customer_clusterer

defs = dg.Definitions(assets=[customer_segments, fitted_customer_clusterer])
