"""The checks in real Dagster runs: a bad day blocks what is downstream and the sensor alerts once."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.quality.checks import GATE, WARNINGS, build_suite_check
from pipelines.quality.definitions import defs as quality_defs
from pipelines.quality.sensors import alert_on_run_failure, alert_on_warnings
from pipelines.quality.validate import targets
from pipelines.settings import get_paths
from tests.quality.tiny_warehouse import write_order_lines

POS_TARGET = next(t for t in targets() if t.name == "pos_order_lines")
POS = dg.AssetKey(["raw", "pos_order_lines"])


@dg.asset(key=["raw", "pos_order_lines"])
def pos_order_lines() -> None:
    """Stands in for ingestion: the rows are already in the tiny warehouse."""


@dg.asset(key=["segments", "publication"], deps=[POS])
def publication(duckdb: DuckDBResource) -> None:
    with duckdb.get_connection() as con:
        con.sql("create schema if not exists segments")
        con.sql("create or replace table segments.publication as select 1 as published")


def run_gate(warehouse: Path, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [pos_order_lines, publication, build_suite_check(POS_TARGET)],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        instance=instance,
        raise_on_error=False,
    )


def published(warehouse: Path) -> bool:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return bool(
            con.sql(
                "select count(*) from information_schema.tables where table_name = 'publication'"
            ).fetchall()[0][0]
        )


@pytest.fixture
def instance() -> dg.DagsterInstance:
    with dg.instance_for_test() as instance:
        yield instance


def test_a_good_day_passes_the_gate_and_publishes(tmp_path: Path, instance) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse)

    result = run_gate(warehouse, instance)

    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations[GATE].passed and evaluations[WARNINGS].passed
    assert published(warehouse)
    docs = evaluations[GATE].metadata["data_docs"].value
    assert docs.startswith(str(get_paths().docs / "quality" / "raw_pos_order_lines"))
    assert Path(docs).is_file()


def test_negative_amounts_block_publication_and_name_the_expectation(
    tmp_path: Path, instance
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_sign=-1)

    result = run_gate(warehouse, instance)

    assert not result.success
    assert not published(warehouse), "the blocking check must stop the downstream asset"
    gate = next(e for e in result.get_asset_check_evaluations() if e.check_name == GATE)
    assert not gate.passed
    failed = {f["expectation"]: f for f in gate.metadata["failed"].value}
    assert failed["expect_column_values_to_be_between(unit_price)"]["unexpected_count"] == 20
    assert (
        failed["expect_column_values_to_be_between(unit_price)"]["sample_unexpected_values"][0]
        == -3.5
    )
    assert "expect_column_values_to_be_between(unit_price)" in gate.metadata["failures"].value


def test_the_failure_sensor_alerts_once_per_failed_check(
    tmp_path: Path, instance, alert_env, webhook, mailbox
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_null_share=0.3)
    result = run_gate(warehouse, instance)
    run = instance.get_run_by_id(result.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    failure = next(
        e
        for e in instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.PIPELINE_FAILURE
    )

    for _tick in range(2):  # a re-tick over the same run sends nothing new
        context = dg.build_run_status_sensor_context(
            sensor_name=alert_on_run_failure.name,
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure.dagster_event,
        ).for_run_failure()
        alert_on_run_failure(context)

    (posted,) = webhook.received
    alert = posted["alert"]
    assert alert["asset"] == "raw/pos_order_lines" and alert["check"] == GATE
    assert alert["run_url"] == f"http://dagster.cafe.test:3000/runs/{run.run_id}"
    assert [f["expectation"] for f in alert["failed_expectations"]] == [
        "share_of_orders_with_customer_reference_not_dropping"
    ]
    (mail,) = mailbox.messages
    assert "share_of_orders_with_customer_reference_not_dropping" in mail.get_content()
    lines = (get_paths().alerts / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1


def test_the_definitions_wire_two_checks_per_table_and_two_sensors() -> None:
    checks = {
        (key.asset_key.to_user_string(), key.name)
        for check_def in quality_defs.asset_checks
        for key in check_def.check_keys
    }
    assert ("raw/pos_order_lines", GATE) in checks
    assert ("marts/customer_features", WARNINGS) in checks
    assert ("candidate/customer_segments", GATE) in checks
    assert len(checks) == 2 * len(targets())
    blocking = {
        spec.key.name: spec.blocking for c in quality_defs.asset_checks for spec in c.check_specs
    }
    assert blocking == {GATE: True, WARNINGS: False}
    assert {s.name for s in quality_defs.sensors} == {
        alert_on_run_failure.name,
        alert_on_warnings.name,
    }


def test_a_warning_alerts_without_blocking(
    tmp_path: Path, instance, alert_env, webhook, mailbox
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    last_day = write_order_lines(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update raw.pos_order_lines set quantity = 500 where _partition_date = ? and _source_row = 1",
            [last_day],
        )
    result = run_gate(warehouse, instance)
    assert result.success and published(warehouse)
    run = instance.get_run_by_id(result.run_id)
    success = next(
        e
        for e in instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.PIPELINE_SUCCESS
    )

    context = dg.build_run_status_sensor_context(
        sensor_name=alert_on_warnings.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=success.dagster_event,
    )
    alert_on_warnings(context)

    (posted,) = webhook.received
    assert posted["alert"]["check"] == WARNINGS and posted["alert"]["severity"] == "WARN"
    (failure,) = posted["alert"]["failed_expectations"]
    assert failure["expectation"] == "expect_column_values_to_be_between(quantity)"
    assert failure["sample_unexpected_values"] == [500]
    assert len(mailbox.messages) == 1


def test_one_daemon_tick_after_a_blocked_run_sends_its_alert_once(
    tmp_path: Path, instance, alert_env, webhook, mailbox
) -> None:
    first_tick = alert_on_run_failure.evaluate_tick(dg.build_sensor_context(instance=instance))
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_sign=-1)
    result = run_gate(warehouse, instance)
    assert not result.success

    cursor = first_tick.cursor
    for _tick in range(2):
        tick = alert_on_run_failure.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=cursor)
        )
        cursor = tick.cursor

    # one alert per failed check: the blocking gate and the warning, each sent once
    by_check = {
        posted["alert"]["check"]: [f["expectation"] for f in posted["alert"]["failed_expectations"]]
        for posted in webhook.received
    }
    assert by_check == {
        GATE: ["expect_column_values_to_be_between(unit_price)"],
        WARNINGS: ["net_revenue_of_the_day_not_negative"],
    }
    assert {posted["alert"]["run_id"] for posted in webhook.received} == {result.run_id}
    assert len(webhook.received) == 2 and len(mailbox.messages) == 2


def test_a_failed_step_outside_the_checks_gives_one_step_alert(
    instance, alert_env, webhook, mailbox
) -> None:
    @dg.asset(key=["raw", "crm_contacts"])
    def broken_contacts() -> None:
        raise ValueError("data/incoming/crm/2025-03-08/contacts.csv: column contact_id is missing")

    result = dg.materialize([broken_contacts], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    failure = next(
        e
        for e in instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.PIPELINE_FAILURE
    )

    alert_on_run_failure(
        dg.build_run_status_sensor_context(
            sensor_name=alert_on_run_failure.name,
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure.dagster_event,
        ).for_run_failure()
    )

    (posted,) = webhook.received
    assert posted["alert"]["kind"] == "step_failed"
    assert posted["alert"]["asset"] == "raw/crm_contacts"
    assert "column contact_id is missing" in posted["alert"]["summary"]
    assert posted["alert"]["alert_id"] == f"{run.run_id}:step:raw__crm_contacts"


def test_the_run_tags_choose_the_partition_range() -> None:
    from datetime import date

    from pipelines.quality.checks import partition_range_from_tags

    assert partition_range_from_tags({"dagster/partition": "2025-03-08"}) == (
        date(2025, 3, 8),
        date(2025, 3, 8),
    )
    assert partition_range_from_tags(
        {
            "dagster/asset_partition_range_start": "2025-01-01",
            "dagster/asset_partition_range_end": "2025-03-08",
        }
    ) == (date(2025, 1, 1), date(2025, 3, 8))
    assert partition_range_from_tags({}) is None
