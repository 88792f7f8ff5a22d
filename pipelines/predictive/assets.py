"""The predictive asset: CLV, probability alive, churn risk and predictive segments per customer.

Reads the point-in-time feature history (`marts.customer_features`) and `marts.orders`, calls
`customer_predictions()` and writes `candidate.customer_predictions`, which publication joins into
`segments.customer_segments`. The models (scipy, scikit-learn) are imported when the asset runs,
so loading the code location stays fast.
"""

import time
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from pipelines.metadata import markdown_table
from pipelines.resources import WAREHOUSE_POOL

PREDICTIONS_TABLE = "candidate.customer_predictions"

# Churn trains only on buyers' rows (frequency > 0); the latest day is read whole because every
# customer of that day gets a prediction row. Reading the rest would only cost memory.
FEATURES_SQL = """
    select * from marts.customer_features
    where frequency > 0
        or as_of_date = (select max(as_of_date) from marts.customer_features)
"""
ORDERS_SQL = """
    select customer_key, order_date, is_return, net_revenue
    from marts.orders
    where customer_key is not null
"""


def _counts(customers: pl.DataFrame, column: str) -> pl.DataFrame:
    """Customers and share per value of `column` (null shown as its own row)."""
    return (
        customers.group_by(column)
        .len("customers")
        .with_columns(share=(pl.col("customers") / customers.height).round(3))
        .sort("customers", column, descending=[True, False], nulls_last=True)
    )


def prediction_metadata(predictions: Any, context: dg.AssetExecutionContext) -> dict[str, Any]:
    """What a data engineer checks after a run: size, model parameters, validation, distribution."""
    customers: pl.DataFrame = predictions.customers
    validation: dict[str, Any] = predictions.churn_validation
    metadata: dict[str, Any] = {
        "dagster/row_count": customers.height,
        "as_of_date": str(customers["as_of_date"].max()),
        "customers_with_clv": customers.filter(pl.col("clv_12m").is_not_null()).height,
        "customers_with_churn_risk": customers.filter(
            pl.col("churn_probability").is_not_null()
        ).height,
    }
    metadata |= {name: float(value) for name, value in predictions.clv_parameters.items()}
    if predictions.clv_skipped:
        metadata["clv_skipped"] = predictions.clv_skipped
        context.log.warning(f"CLV: {predictions.clv_skipped}")
    metadata["churn_horizon_days"] = validation.get("horizon_days")
    for key in ("roc_auc", "pr_auc", "observed_churn_rate"):
        if key in validation:
            metadata[f"churn_{key}"] = float(validation[key])
    for key in (
        "train_first_as_of_date",
        "train_last_as_of_date",
        "validation_as_of_date",
        "train_rows",
        "validation_rows",
    ):
        if key in validation:
            metadata[f"churn_{key}"] = validation[key]
    if "skipped" in validation:
        metadata["churn_skipped"] = validation["skipped"]
        context.log.warning(f"Churn risk: {validation['skipped']}")
    if predictions.calibration is not None:
        metadata["churn_calibration"] = dg.MetadataValue.md(markdown_table(predictions.calibration))
    metadata["predictive_segments"] = dg.MetadataValue.md(
        markdown_table(_counts(customers, "predictive_segment"))
    )
    metadata["churn_risk_bands"] = dg.MetadataValue.md(
        markdown_table(_counts(customers, "churn_risk_band"))
    )
    metadata["value_tiers"] = dg.MetadataValue.md(markdown_table(_counts(customers, "value_tier")))
    return metadata


@dg.asset(
    key=["candidate", "customer_predictions"],
    deps=[dg.AssetKey(["marts", "customer_features"]), dg.AssetKey(["marts", "orders"])],
    group_name="predictive",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "scikit-learn"},
)
def customer_predictions(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """One row per customer of the latest as-of date: expected purchases, p_alive, 12-month CLV,
    value tier, churn probability and band, predictive segment."""
    from pipelines.predictive.clv import ModelFitError
    from pipelines.predictive.config import load_predictive_config
    from pipelines.predictive.predict import customer_predictions as predict

    config = load_predictive_config()
    with duckdb.get_connection() as con:
        features_history = con.sql(FEATURES_SQL).pl()
        orders = con.sql(ORDERS_SQL).pl()
    if features_history.is_empty():
        raise dg.Failure(
            description=(
                "marts.customer_features is empty: no customer to predict for "
                "(materialize the transform assets first)"
            )
        )
    context.log.info(
        f"Fitting on {features_history.height} feature rows over "
        f"{features_history['as_of_date'].n_unique()} as-of dates and {orders.height} orders"
    )
    started = time.perf_counter()
    try:
        predictions = predict(features_history, orders, config)
    except ModelFitError as error:
        # The library's message names the model, the optimizer's verdict and the data.
        raise dg.Failure(
            description=f"{PREDICTIONS_TABLE} not written: {error}",
            metadata={"as_of_date": str(features_history["as_of_date"].max())},
        ) from error
    context.log.info(f"Models fitted and customers scored in {time.perf_counter() - started:.1f} s")
    customers = predictions.customers
    with duckdb.get_connection() as con:
        con.sql("create schema if not exists candidate")
        con.register("predictions", customers.to_arrow())
        con.sql(f"create or replace table {PREDICTIONS_TABLE} as select * from predictions")
    return dg.MaterializeResult(metadata=prediction_metadata(predictions, context))
