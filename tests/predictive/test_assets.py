"""The predictive asset in Dagster: the tiny sample through the loader and dbt, and fits that fail."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.predictive.assets import PREDICTIONS_TABLE, customer_predictions
from pipelines.predictive.clv import ModelFitError
from pipelines.predictive.config import DEFAULTS
from pipelines.predictive.predict import PREDICTION_COLUMNS
from pipelines.predictive.predict import customer_predictions as predict
from tests.predictive.sample_warehouse import build_marts
from tests.transform.test_identity_on_sample import load_sample

PREDICTIONS_KEY = dg.AssetKey(["candidate", "customer_predictions"])


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert len(events) == 1, f"{key.to_user_string()} materialized {len(events)} times"
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}


def test_a_young_shop_gets_one_row_per_customer_and_is_told_why_models_wait(
    tiny_sample: Path, tmp_path: Path
) -> None:
    # The tiny sample: 200 customers over 60 days, a handful of repeat buyers, no 90-day label.
    warehouse = tmp_path / "warehouse.duckdb"
    load_sample(tiny_sample, warehouse)
    build_marts(warehouse, tmp_path)

    result = _materialize(warehouse)

    assert result.success
    metadata = _metadata(result, PREDICTIONS_KEY)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        predictions = con.sql(f"select * from {PREDICTIONS_TABLE}").pl()
        latest = con.sql(
            "select customer_key, as_of_date, frequency from marts.customer_features "
            "where as_of_date = (select max(as_of_date) from marts.customer_features)"
        ).pl()
    assert predictions.columns == PREDICTION_COLUMNS
    assert predictions.height == predictions["customer_key"].n_unique() == latest.height
    assert set(predictions["customer_key"]) == set(latest["customer_key"])
    assert (predictions["as_of_date"] == latest["as_of_date"][0]).all()
    assert metadata["dagster/row_count"] == latest.height
    assert metadata["as_of_date"] == str(latest["as_of_date"][0])

    joined = predictions.join(latest, on=["customer_key", "as_of_date"])
    never_bought = joined.filter(pl.col("frequency") == 0)
    bought = joined.filter(pl.col("frequency") > 0)
    assert never_bought.height > 0 and bought.height > 0
    assert (never_bought["predictive_segment"] == "No purchase yet").all()
    assert (bought["predictive_segment"] == "Steady").all()

    # Too few repeat buyers for CLV, too short a history for churn: null, and the run says why.
    for column in PREDICTION_COLUMNS[2:-1]:
        assert predictions[column].is_null().all(), column
    assert "customers with a repeat purchase" in metadata["clv_skipped"]
    assert "not trained" in metadata["churn_skipped"]
    assert metadata["customers_with_clv"] == metadata["customers_with_churn_risk"] == 0
    assert not {"bgnbd_r", "gamma_gamma_q", "churn_roc_auc", "churn_calibration"} & set(metadata)
    assert f"| No purchase yet | {never_bought.height} |" in metadata["predictive_segments"]
    assert f"| Steady | {bought.height} |" in metadata["predictive_segments"]
    assert f"|  | {latest.height} | 1.0 |" in metadata["churn_risk_bands"]


AS_OF = date(2026, 3, 2)


def write_marts(warehouse: Path, features: pl.DataFrame, orders: pl.DataFrame) -> Path:
    """(Re)write the two marts the asset reads; returns `warehouse`."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.register("features", features.to_arrow())
        con.register("orders", orders.to_arrow())
        con.execute("create or replace table marts.customer_features as select * from features")
        con.execute("create or replace table marts.orders as select * from orders")
    return warehouse


def _materialize(warehouse: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [customer_predictions],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def _no_predictions_table(warehouse: Path) -> bool:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return not con.sql(
            "select * from information_schema.tables "
            "where table_schema = 'candidate' and table_name = 'customer_predictions'"
        ).fetchall()


def test_a_fit_that_fails_fails_the_asset_with_the_models_reason(tmp_path: Path) -> None:
    # 150 repeat customers whose spend runs log-uniformly from 1 to 10,000: Gamma-Gamma's q
    # falls below 1, so the mean spend (and CLV) is infinite.
    customers = [f"c{i:03d}" for i in range(150)]
    spend = [10 ** (4 * i / 149) for i in range(150)]
    orders = pl.DataFrame(
        {
            "customer_key": [c for c in customers for _ in range(3)],
            "order_date": [AS_OF - timedelta(days=d) for _ in customers for d in (90, 50, 20)],
            "is_return": [False] * 450,
            "net_revenue": [s for s in spend for _ in range(3)],
        }
    )
    features = pl.DataFrame(
        {
            "customer_key": customers,
            "as_of_date": [AS_OF] * 150,
            "frequency": [3] * 150,
            "recency_days": [20] * 150,
        }
    )
    with pytest.raises(ModelFitError, match="Gamma-Gamma") as expected:
        predict(features, orders, DEFAULTS)
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse, features, orders)

    message = _failure(_materialize(warehouse))

    assert message == f"{PREDICTIONS_TABLE} not written: {expected.value}"
    assert _no_predictions_table(warehouse)


def test_an_empty_feature_history_fails_and_says_what_to_run(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(
        warehouse,
        pl.DataFrame(
            schema={"customer_key": pl.String, "as_of_date": pl.Date, "frequency": pl.Int64}
        ),
        pl.DataFrame(
            schema={
                "customer_key": pl.String,
                "order_date": pl.Date,
                "is_return": pl.Boolean,
                "net_revenue": pl.Float64,
            }
        ),
    )

    message = _failure(_materialize(warehouse))

    assert "marts.customer_features is empty" in message
    assert _no_predictions_table(warehouse)


def test_publication_reads_exactly_the_columns_the_asset_writes_and_waits_for_it() -> None:
    from pipelines.definitions import defs
    from pipelines.publish.tables import CANDIDATE_PREDICTIONS
    from pipelines.publish.tables import PREDICTION_COLUMNS as PUBLISHED_COLUMNS

    assert CANDIDATE_PREDICTIONS == PREDICTIONS_TABLE
    assert ["customer_key", "as_of_date", *PUBLISHED_COLUMNS] == PREDICTION_COLUMNS
    graph = defs.resolve_asset_graph()
    assert graph.get(PREDICTIONS_KEY).parent_keys == {
        dg.AssetKey(["marts", "customer_features"]),
        dg.AssetKey(["marts", "orders"]),
        dg.AssetKey(["models", "churn_model"]),
        dg.AssetKey(["models", "clv_model"]),
    }
    published = graph.get(dg.AssetKey(["segments", "customer_segments"]))
    assert PREDICTIONS_KEY in published.parent_keys


def test_the_models_read_the_latest_day_whole_and_a_bounded_share_of_the_history(
    tmp_path: Path,
) -> None:
    # 600 customers x 20 weekly snapshots; every other customer has bought. With 90-day labels
    # the 12 snapshots between the latest and 90 days before it teach churn nothing, and the 7
    # older ones hold 7 x 300 = 2,100 labelled buyer rows: twice the 1,000 of max_training_rows.
    from pipelines.predictive.assets import read_model_inputs

    dates = [AS_OF - timedelta(weeks=w) for w in range(20)]
    features = pl.DataFrame(
        {
            "customer_key": [f"c{i:03d}" for _ in dates for i in range(600)],
            "as_of_date": [d for d in dates for _ in range(600)],
            "frequency": [i % 2 for _ in dates for i in range(600)],
        }
    )
    orders = pl.DataFrame(
        {
            "customer_key": ["c001", "c001", "c001", None, "c003"],
            "order_date": [AS_OF - timedelta(days=d) for d in (10, 10, 3, 3, 5)],
            "is_return": [False, False, True, False, None],
            "net_revenue": [12.5, 7.5, -20.0, 9.0, 4.0],
        }
    )
    warehouse = tmp_path / "warehouse.duckdb"
    write_marts(warehouse, features, orders)
    churn = DEFAULTS["churn"] | {"max_training_rows": 1000}

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows, purchase_days = read_model_inputs(con, AS_OF, churn, training=True)
        again, _ = read_model_inputs(con, AS_OF, churn, training=True)
        scoring_only, _ = read_model_inputs(con, AS_OF, churn, training=False)

    latest = rows.filter(pl.col("as_of_date") == AS_OF)
    history = rows.filter(pl.col("as_of_date") < AS_OF)
    assert latest.height == 600, "every customer of the latest day is scored"
    assert history["as_of_date"].max() <= AS_OF - timedelta(days=90)
    assert (history["frequency"] > 0).all(), "never-bought rows have no churn label"
    assert 800 <= history.height <= 1200, f"{history.height} labelled rows read, about 1,000 wanted"
    assert rows.sort("customer_key", "as_of_date").equals(again.sort("customer_key", "as_of_date"))
    assert scoring_only.sort("customer_key").equals(latest.sort("customer_key"))
    # Same-day orders are one purchase; returns and anonymous orders are no purchase.
    assert sorted(purchase_days.select("customer_key", "net_revenue").rows()) == [
        ("c001", 20.0),
        ("c003", 4.0),
    ]
