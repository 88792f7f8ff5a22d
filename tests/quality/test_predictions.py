"""The predictions suite on a hand-made `candidate.customer_predictions`: what would mislead blocks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.predictive.config import load_predictive_config
from pipelines.predictive.segments import predictive_segment
from pipelines.quality.checks import GATE, WARNINGS, build_suite_check
from pipelines.quality.computed import PREDICTIVE_RULE_LABELS
from pipelines.quality.validate import targets, validate_target

PREDICTIONS = next(t for t in targets() if t.kind == "predictions")
AS_OF = "2025-06-01"

# six customers of the latest features: five buyers and one who never bought
ROWS = """
    ('ada', 2.1, 8.0, 0.95, 310.0, 'High',   0.10, 'low',    'Steady'),
    ('ben', 0.9, 3.5, 0.80, 120.0, 'Medium', 0.45, 'medium', 'Steady'),
    ('cleo', 1.2, 4.0, 0.70, 150.0, 'High',  0.85, 'high',   'High value at risk'),
    ('dan', 0.1, 0.4, 0.20,  12.0, 'Low',    0.75, 'high',   'Likely lost'),
    ('eve', 0.5, 1.9, 0.90,  60.0, 'Low',    0.40, 'medium', 'Steady'),
    ('finn', null, null, null, null, null,   null, null,     'No purchase yet')
"""


def write_predictions(path: Path, *, features_as_of: str = AS_OF) -> None:
    with duckdb.connect(str(path)) as con:
        con.sql("create schema if not exists marts")
        con.sql("create schema if not exists candidate")
        con.sql(
            f"""
            create or replace table marts.customer_features as
            select customer_key, d::date as as_of_date,
                   case when customer_key = 'finn' then 0 else 3 end as frequency
            from (values ('ada'), ('ben'), ('cleo'), ('dan'), ('eve'), ('finn')) c(customer_key)
            cross join (values ('2025-05-25'), ('{features_as_of}')) a(d)
            """
        )
        con.sql(
            f"""
            create or replace table candidate.customer_predictions as
            select customer_key, date '{AS_OF}' as as_of_date,
                   expected_purchases_90d::double as expected_purchases_90d,
                   expected_purchases_365d::double as expected_purchases_365d,
                   p_alive::double as p_alive, clv_12m::double as clv_12m,
                   value_tier::varchar as value_tier,
                   churn_probability::double as churn_probability,
                   churn_risk_band::varchar as churn_risk_band, predictive_segment
            from (values {ROWS}) t(customer_key, expected_purchases_90d, expected_purchases_365d,
                  p_alive, clv_12m, value_tier, churn_probability, churn_risk_band,
                  predictive_segment)
            """
        )


def change(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.sql(sql)


def failed(report, severity: str = "ERROR") -> list[str]:
    return sorted(o.expectation for o in report.failed(severity))


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    write_predictions(path)
    return path


def test_consistent_predictions_pass(warehouse: Path) -> None:
    report = validate_target(PREDICTIONS, warehouse)

    assert report.scope == "the whole candidate table"
    assert report.row_count == 6
    assert failed(report) == [] and failed(report, "WARN") == []
    assert report.skipped == []


def test_a_young_history_without_churn_risk_passes(warehouse: Path) -> None:
    change(
        warehouse,
        "update candidate.customer_predictions set churn_probability = null, "
        "churn_risk_band = null, predictive_segment = case when clv_12m is null "
        "then predictive_segment else 'Steady' end",
    )

    assert failed(validate_target(PREDICTIONS, warehouse)) == []


def test_a_young_shop_without_any_model_passes(warehouse: Path) -> None:
    # too few repeat customers for CLV and too short a history for churn: nulls, segments stay
    change(
        warehouse,
        "update candidate.customer_predictions set expected_purchases_90d = null, "
        "expected_purchases_365d = null, p_alive = null, clv_12m = null, value_tier = null, "
        "churn_probability = null, churn_risk_band = null, predictive_segment = case "
        "when customer_key = 'finn' then predictive_segment else 'Steady' end",
    )

    assert failed(validate_target(PREDICTIONS, warehouse)) == []


P = "candidate.customer_predictions"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param(
            f"update {P} set p_alive = 1.2 where customer_key = 'ada'",
            ["expect_column_values_to_be_between(p_alive)"],
            id="p_alive above 1",
        ),
        pytest.param(
            f"update {P} set clv_12m = -40 where customer_key = 'eve'",
            ["expect_column_values_to_be_between(clv_12m)"],
            id="negative CLV",
        ),
        pytest.param(
            f"update {P} set churn_probability = -0.2, churn_risk_band = null "
            "where customer_key = 'ada'",
            [
                "churn_risk_band_matches_churn_probability",
                "expect_column_values_to_be_between(churn_probability)",
            ],
            id="negative churn probability",
        ),
        pytest.param(
            f"update {P} set churn_risk_band = 'low' where customer_key = 'cleo'",
            ["churn_risk_band_matches_churn_probability"],
            id="an 85% churn risk shown as low",
        ),
        pytest.param(
            f"update {P} set churn_risk_band = 'critical' where customer_key = 'cleo'",
            [
                "churn_risk_band_matches_churn_probability",
                "expect_column_values_to_be_in_set(churn_risk_band)",
            ],
            id="unknown churn band",
        ),
        pytest.param(
            f"update {P} set value_tier = 'Gold' where customer_key = 'ada'",
            ["labels_defined_in_predictive_config(value_tier)"],
            id="tier not in predictive.yaml",
        ),
        pytest.param(
            f"update {P} set predictive_segment = 'VIP' where customer_key = 'ada'",
            ["labels_defined_in_predictive_config(predictive_segment)"],
            id="unknown predictive segment",
        ),
        pytest.param(
            f"update {P} set predictive_segment = null where customer_key = 'finn'",
            [
                "expect_column_values_to_not_be_null(predictive_segment)",
                "predictions_agree_with_purchase_history",
            ],
            id="customer without segment",
        ),
        pytest.param(
            f"update {P} set clv_12m = 80, p_alive = 0.5, value_tier = 'Low' "
            "where customer_key = 'finn'",
            ["predictions_agree_with_purchase_history"],
            id="never-bought customer with a value",
        ),
        pytest.param(
            f"update {P} set predictive_segment = 'No purchase yet' where customer_key = 'ada'",
            ["predictions_agree_with_purchase_history"],
            id="buyer shown as never bought",
        ),
        pytest.param(
            f"update {P} set clv_12m = null, value_tier = null, p_alive = null "
            "where customer_key = 'ben'",
            ["lifetime_value_for_every_buyer_or_none"],
            id="one buyer left without a value",
        ),
        pytest.param(
            f"update {P} set value_tier = null where customer_key = 'ben'",
            ["predictions_agree_with_purchase_history"],
            id="a value without its tier",
        ),
        pytest.param(
            f"update {P} set churn_probability = null, churn_risk_band = null "
            "where customer_key = 'ben'",
            ["churn_risk_for_every_buyer_or_none"],
            id="one buyer left unscored",
        ),
        pytest.param(
            f"insert into {P} select * from {P} where customer_key = 'ben'",
            ["expect_column_values_to_be_unique(customer_key)"],
            id="customer twice",
        ),
        pytest.param(
            f"delete from {P} where customer_key = 'dan'",
            ["every_customer_of_latest_features_has_a_prediction"],
            id="customer missing",
        ),
        pytest.param(
            f"update {P} set expected_purchases_90d = 9 where customer_key = 'ben'",
            [
                "expect_column_pair_values_a_to_be_greater_than_b(expected_purchases_365d, "
                "expected_purchases_90d)"
            ],
            id="more purchases in 90 days than in a year",
        ),
    ],
)
def test_what_would_mislead_a_shop_owner_blocks(
    warehouse: Path, sql: str, expected: list[str]
) -> None:
    change(warehouse, sql)

    report = validate_target(PREDICTIONS, warehouse)

    assert failed(report) == expected


def test_predictions_of_an_older_day_than_the_features_block(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    write_predictions(path, features_as_of="2025-06-08")

    report = validate_target(PREDICTIONS, path)

    assert failed(report) == ["every_customer_of_latest_features_has_a_prediction"]
    (outcome,) = report.failed("ERROR")
    assert outcome.observed_value["rows_of_another_as_of_date"] == 6
    assert outcome.observed_value["latest_features_as_of_date"] == "2025-06-08"


def test_a_missing_predictions_table_blocks(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    write_predictions(path)
    change(path, "drop table candidate.customer_predictions")

    assert failed(validate_target(PREDICTIONS, path)) == ["table_exists"]


def test_the_rule_labels_are_the_ones_the_predictive_stage_writes() -> None:
    config = load_predictive_config()["segments"]
    # one customer per rule: at risk, lost, rising, steady, never bought
    frame = pl.DataFrame(
        {
            "value_tier": ["High", "Low", "High", "Low", None],
            "churn_risk_band": ["high", "low", "low", "low", None],
            "p_alive": [0.9, 0.1, 0.9, 0.9, None],
            "first_purchase": [
                date(2024, 1, 1),
                date(2024, 1, 1),
                date(2025, 5, 1),
                date(2024, 1, 1),
                None,
            ],
        }
    )

    labels = predictive_segment(frame, date(2025, 6, 1), config).to_list()

    assert labels[:3] == list(PREDICTIVE_RULE_LABELS)
    assert labels[3:] == [config["steady_label"], config["no_purchase_label"]]


@dg.asset(key=["candidate", "customer_predictions"])
def predictions_with_a_negative_clv(duckdb: DuckDBResource) -> None:
    """Stands in for the predictive asset: writes a table where one customer is worth -40."""
    write_predictions(Path(duckdb.database))
    with duckdb.get_connection() as con:
        con.sql(f"update {P} set clv_12m = -40 where customer_key = 'eve'")


@dg.asset(key=["segments", "publication"], deps=[["candidate", "customer_predictions"]])
def publication(duckdb: DuckDBResource) -> None:
    with duckdb.get_connection() as con:
        con.sql("create schema if not exists segments")
        con.sql("create table segments.publication as select 1 as published")


def test_the_check_attaches_by_key_and_blocks_what_is_downstream(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [predictions_with_a_negative_clv, publication, build_suite_check(PREDICTIONS)],
            resources={"duckdb": DuckDBResource(database=str(warehouse))},
            instance=instance,
            raise_on_error=False,
        )

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations[GATE].asset_key == dg.AssetKey(["candidate", "customer_predictions"])
    assert not evaluations[GATE].passed and evaluations[WARNINGS].passed
    (failure,) = evaluations[GATE].metadata["failed"].value
    assert failure["expectation"] == "expect_column_values_to_be_between(clv_12m)"
    assert failure["sample_unexpected_values"] == [-40.0]
    assert not result.asset_materializations_for_node("publication")
