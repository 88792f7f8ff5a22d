"""The predictive asset: CLV, probability alive, churn risk and predictive segments per customer.

Reads the point-in-time feature history (`marts.customer_features`) and `marts.orders`, calls
`customer_predictions()` and writes `candidate.customer_predictions`, which publication joins into
`segments.customer_segments`. The churn model (`models/churn_model`) and the CLV models
(`models/clv_model`) are fitted by the weekly `model_refit` run and saved under
`<data>/models/predictive`; the daily runs read only the latest as-of date and predict with them. The models
(scipy, scikit-learn) are imported when the asset runs, so loading the code location stays fast.
"""

import math
import time
from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field

from pipelines.metadata import markdown_table
from pipelines.refit import MODELS_GROUP, RefitDecision
from pipelines.resources import WAREHOUSE_POOL
from pipelines.settings import get_paths

PREDICTIONS_TABLE = "candidate.customer_predictions"
MODEL_SUBFOLDER = "predictive"
MART_DEPS = [dg.AssetKey(["marts", "customer_features"]), dg.AssetKey(["marts", "orders"])]
CHURN_MODEL_KEY = dg.AssetKey(["models", "churn_model"])
CLV_MODEL_KEY = dg.AssetKey(["models", "clv_model"])

# What the models need of the feature history, and no more: every row of the latest as-of date
# (each of its customers gets a prediction row) and, when churn is trained, the rows it can learn
# from, buyers' rows old enough for their label window to be over. A long history of a large shop
# holds far more of those than `churn.max_training_rows`, so DuckDB keeps a fixed pseudo-random
# share of them (by a hash of customer and date, the same rows on every run) instead of handing
# all of them to Python. The two parts are separate statements: a condition `latest or labelled`
# cannot skip any of the history's row groups, so a scoring-only run reading through it scanned
# and hashed every feature row of every snapshot (at tier L 13.8 s instead of 2.2 s, cold).
LATEST_SQL = "select max(as_of_date) from marts.customer_features"
LABELLED_ROWS_SQL = """
    select count(*) from marts.customer_features
    where frequency > 0 and as_of_date <= $last_labelled
"""
LATEST_FEATURES_SQL = "select * from marts.customer_features where as_of_date = $latest"
TRAINING_FEATURES_SQL = """
    select * from marts.customer_features
    where frequency > 0
        and as_of_date <= $last_labelled
        and hash(customer_key, as_of_date) % 1000000 < $per_million
"""
# One row per customer and purchase day: returns and anonymous orders are no purchases to either
# model, and both count a day's orders as one purchase.
ORDERS_SQL = """
    select customer_key, cast(order_date as date) as order_date, false as is_return,
        sum(net_revenue) as net_revenue
    from marts.orders
    where customer_key is not null and not coalesce(is_return, false)
    group by all
"""


def read_model_inputs(
    con: Any, latest: date, churn_config: dict[str, Any], training: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(feature rows, purchase days) for `customer_predictions`: the latest as-of date, and when
    the churn model is `training`, the bounded share of the labelled history described above."""
    features = con.sql(LATEST_FEATURES_SQL, params={"latest": latest}).pl()
    if training:
        last_labelled = latest - timedelta(days=churn_config["horizon_days"])
        (labelled,) = con.execute(LABELLED_ROWS_SQL, {"last_labelled": last_labelled}).fetchall()[0]
        wanted = churn_config["max_training_rows"]
        per_million = 1_000_000 if labelled <= wanted else math.ceil(wanted * 1e6 / labelled)
        history = con.sql(
            TRAINING_FEATURES_SQL,
            params={"last_labelled": last_labelled, "per_million": per_million},
        ).pl()
        features = pl.concat([features, history])
    return features, con.sql(ORDERS_SQL).pl()


def latest_as_of(duckdb: DuckDBResource, nothing_to_do: str) -> date:
    """The latest as-of date of the features; a failure saying `nothing_to_do` when there is none."""
    with duckdb.get_connection() as con:
        (latest,) = con.execute(LATEST_SQL).fetchall()[0]
    if latest is None:
        # raised outside the connection's block: a failure must not keep the warehouse open
        raise dg.Failure(
            description=(
                f"marts.customer_features is empty: {nothing_to_do} "
                "(materialize the transform assets first)"
            )
        )
    return latest


def _counts(customers: pl.DataFrame, column: str) -> pl.DataFrame:
    """Customers and share per value of `column` (null shown as its own row)."""
    return (
        customers.group_by(column)
        .len("customers")
        .with_columns(share=(pl.col("customers") / customers.height).round(3))
        .sort("customers", column, descending=[True, False], nulls_last=True)
    )


def _not_written(error: Exception, as_of: date) -> dg.Failure:
    """The failure of a CLV fit or prediction; the library's message names the model, the
    optimizer's verdict and the data."""
    return dg.Failure(
        description=f"{PREDICTIONS_TABLE} not written: {error}",
        metadata={"as_of_date": str(as_of)},
    )


def _model_source(made: str, decision: RefitDecision, made_here: bool, fallback: str | None) -> str:
    """Where the day's model came from, in a sentence for the metadata: `made` ("trained",
    "fitted") on this run, the saved one, or the saved one because a due refit failed."""
    if fallback:
        return f"saved model used: a new one was due ({decision.reason}) but {fallback}"
    if made_here:
        return f"{made} on this run: {decision.reason}"
    return f"saved model used: {decision.reason}"


def churn_validation_metadata(
    validation: dict[str, Any], calibration: pl.DataFrame | None, context: Any
) -> dict[str, Any]:
    """The churn model's time-based validation as metadata (and a warning when it was skipped)."""
    metadata: dict[str, Any] = {"churn_horizon_days": validation.get("horizon_days")}
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
    if calibration is not None:
        metadata["churn_calibration"] = dg.MetadataValue.md(markdown_table(calibration))
    return metadata


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
    metadata |= churn_validation_metadata(validation, predictions.calibration, context)
    metadata["predictive_segments"] = dg.MetadataValue.md(
        markdown_table(_counts(customers, "predictive_segment"))
    )
    metadata["churn_risk_bands"] = dg.MetadataValue.md(
        markdown_table(_counts(customers, "churn_risk_band"))
    )
    metadata["value_tiers"] = dg.MetadataValue.md(markdown_table(_counts(customers, "value_tier")))
    return metadata


class PredictionsConfig(dg.Config):
    """Run config of the predictive step (Launchpad: ops.candidate__customer_predictions.config)."""

    force_refit: bool = Field(
        default=False,
        description="Train the churn model and fit the CLV models today even if the saved ones "
        "are not due (churn.refit_every_days, clv.refit_every_days).",
    )


@dg.asset(
    key=["candidate", "customer_predictions"],
    deps=[*MART_DEPS, CHURN_MODEL_KEY, CLV_MODEL_KEY],
    group_name="predictive",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "scikit-learn"},
)
def customer_predictions(
    context: dg.AssetExecutionContext, config: PredictionsConfig, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """One row per customer of the latest as-of date: expected purchases, p_alive, 12-month CLV,
    value tier, churn probability and band, predictive segment.

    Predicts with the models the weekly `model_refit` run saved under the models folder. This
    run fits one itself when there is none yet, its settings changed, churn also when the
    features lose a column it reads, or when it is older than `refit_every_days` and the
    `model_refit` run is a day late."""
    from pipelines.predictive.churn import train_churn_model
    from pipelines.predictive.clv import ClvModel, ModelFitError
    from pipelines.predictive.config import load_predictive_config
    from pipelines.predictive.predict import ClvFit, fit_clv_model
    from pipelines.predictive.predict import customer_predictions as predict
    from pipelines.predictive.store import (
        latest_churn_model,
        latest_clv_model,
        load_churn_model,
        load_clv_model,
        save_churn_model,
        save_clv_model,
    )
    from pipelines.refit import DAILY_RUN_GRACE_DAYS, should_refit

    settings = load_predictive_config()
    churn_settings = settings["churn"]
    model_folder = get_paths().models / MODEL_SUBFOLDER
    latest = latest_as_of(duckdb, "no customer to predict for")
    saved = latest_churn_model(model_folder)
    decision = should_refit(
        saved[1] if saved else None,
        latest,
        churn_settings,
        "churn",
        config.force_refit,
        DAILY_RUN_GRACE_DAYS,
    )
    churn_model = load_churn_model(saved[0]) if saved and not decision else None
    saved_clv = latest_clv_model(model_folder)
    clv_decision = should_refit(
        saved_clv[1] if saved_clv else None,
        latest,
        settings["clv"],
        "clv",
        config.force_refit,
        DAILY_RUN_GRACE_DAYS,
    )
    clv_model = load_clv_model(saved_clv[0]) if saved_clv and not clv_decision else None
    with duckdb.get_connection() as con:
        features, orders = read_model_inputs(con, latest, churn_settings, churn_model is None)
        missing = churn_model.missing_columns(features) if churn_model else []
        if missing:
            decision = RefitDecision(True, f"the saved model reads columns now gone: {missing}")
            churn_model = None
            features, orders = read_model_inputs(con, latest, churn_settings, True)
    context.log.info(
        f"Churn model: {'train' if churn_model is None else 'saved one'} ({decision.reason}); "
        f"CLV: {'fit' if clv_model is None else 'saved one'} ({clv_decision.reason}); "
        f"{features.height} feature rows over {features['as_of_date'].n_unique()} as-of dates "
        f"and {orders.height} customer purchase days read"
    )
    started = time.perf_counter()
    # A due model is fitted first, with the functions the model_refit run uses; then the day is
    # scored once with whichever models serve. A model refitted only for its age (or on request)
    # whose new fit fails leaves the saved one in use today: the shop keeps its churn risk and CLV
    # while the cause is looked at.
    churn_trained_here = clv_fitted_here = False
    churn_fallback = clv_fallback = None
    if churn_model is None:
        new_churn = train_churn_model(features, orders, churn_settings)
        if new_churn.classifier is None and decision.saved_usable:
            churn_fallback = new_churn.validation.get("skipped", "no classifier was trained")
            churn_model = load_churn_model(saved[0])
        else:
            churn_model, churn_trained_here = new_churn, True
    # the saved model predicts the day; a fit made here already has, and is used as it is
    clv: ClvModel | ClvFit | None = clv_model
    if clv_model is None:
        try:
            clv = fit_clv_model(orders, latest, settings["clv"])
            why = clv.skipped
        except ModelFitError as error:
            if not clv_decision.saved_usable:
                raise _not_written(error, latest) from error
            clv, why = None, f"fitting a new one failed: {error}"
        clv_fitted_here = why is None
        if why and clv_decision.saved_usable:
            clv_fallback, clv = why, load_clv_model(saved_clv[0])
    try:
        predictions = predict(features, orders, settings, churn_model, clv)
    except ModelFitError as error:
        raise _not_written(error, latest) from error
    for model, reason in (("churn", churn_fallback), ("CLV", clv_fallback)):
        if reason:
            context.log.warning(f"The saved {model} model is used again today: {reason}")
    context.log.info(f"Models fitted and customers scored in {time.perf_counter() - started:.1f} s")
    metadata = prediction_metadata(predictions, context)
    metadata["feature_rows_read"] = features.height
    trained = predictions.churn_model
    metadata["churn_model"] = _model_source("trained", decision, churn_trained_here, churn_fallback)
    if trained is not None and trained.trained_as_of is not None:
        metadata["churn_model_trained_as_of"] = str(trained.trained_as_of)
        path = (
            save_churn_model(trained, model_folder, churn_settings)
            if churn_trained_here
            else saved[0]
        )
        metadata["churn_model_path"] = dg.MetadataValue.path(str(path))
    fitted = predictions.clv_model
    if fitted is not None:
        metadata["clv_model"] = _model_source("fitted", clv_decision, clv_fitted_here, clv_fallback)
        metadata["clv_model_fitted_as_of"] = str(fitted.fitted_as_of)
        path = (
            save_clv_model(fitted, model_folder, settings["clv"])
            if clv_fitted_here
            else saved_clv[0]
        )
        metadata["clv_model_path"] = dg.MetadataValue.path(str(path))
    customers = predictions.customers
    with duckdb.get_connection() as con:
        con.sql("create schema if not exists candidate")
        con.register("predictions", customers.to_arrow())
        con.sql(f"create or replace table {PREDICTIONS_TABLE} as select * from predictions")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=CHURN_MODEL_KEY,
    deps=MART_DEPS,
    group_name=MODELS_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"scikit-learn"},
)
def trained_churn_model(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """The churn model, trained again on the labelled feature history (a bounded, fixed sample
    of it, `churn.max_training_rows`), validated on its latest labelled as-of date and saved
    under the models folder: the weekly `model_refit` run. The daily run scores with it."""
    from pipelines.predictive.churn import train_churn_model
    from pipelines.predictive.config import load_predictive_config
    from pipelines.predictive.store import save_churn_model

    settings = load_predictive_config()["churn"]
    latest = latest_as_of(duckdb, "no model to fit")
    with duckdb.get_connection() as con:
        features, orders = read_model_inputs(con, latest, settings, training=True)
    model = train_churn_model(features, orders, settings)
    metadata: dict[str, Any] = {
        "as_of_date": str(latest),
        "feature_rows_read": features.height,
        **churn_validation_metadata(model.validation, model.calibration, context),
    }
    if model.classifier is None:
        metadata["churn_model"] = "not trained; the saved model, if any, stays in use"
    else:
        path = save_churn_model(model, get_paths().models / MODEL_SUBFOLDER, settings)
        metadata["churn_model"] = f"trained as of {latest} from {features.height} feature rows read"
        metadata["churn_model_path"] = dg.MetadataValue.path(str(path))
    context.log.info(metadata["churn_model"])
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=CLV_MODEL_KEY,
    deps=MART_DEPS,
    group_name=MODELS_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"scipy"},
)
def fitted_clv_model(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """The CLV models (BG/NBD purchases and dropout, Gamma-Gamma spend), fitted again on every
    purchase before the latest as-of date and saved under the models folder: the weekly
    `model_refit` run. The daily run predicts each day's purchase summary with them."""
    from pipelines.predictive.clv import ModelFitError
    from pipelines.predictive.config import load_predictive_config
    from pipelines.predictive.predict import fit_clv_model
    from pipelines.predictive.store import save_clv_model

    settings = load_predictive_config()["clv"]
    latest = latest_as_of(duckdb, "no model to fit")
    with duckdb.get_connection() as con:
        orders = con.sql(ORDERS_SQL).pl()
    try:
        fit = fit_clv_model(orders, latest, settings)
    except ModelFitError as error:
        raise dg.Failure(
            description=f"CLV model not saved: {error}", metadata={"as_of_date": str(latest)}
        ) from error
    model, note = fit.model, fit.note
    metadata: dict[str, Any] = {"as_of_date": str(latest), "clv_model": note}
    if model is None:
        metadata["clv_model"] = f"{note}; the saved model, if any, stays in use"
        context.log.warning(f"CLV: {note}")
    else:
        path = save_clv_model(model, get_paths().models / MODEL_SUBFOLDER, settings)
        metadata |= {name: float(value) for name, value in model.parameters.items()}
        metadata["clv_model_path"] = dg.MetadataValue.path(str(path))
    return dg.MaterializeResult(metadata=metadata)
