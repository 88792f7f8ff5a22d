import dagster as dg

from pipelines.predictive.assets import customer_predictions, fitted_clv_model, trained_churn_model

defs = dg.Definitions(assets=[customer_predictions, trained_churn_model, fitted_clv_model])
