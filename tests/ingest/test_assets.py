"""The ingest assets materialize through Dagster against a temporary warehouse; the sensor."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from pipelines.ingest.assets import ingest_assets, product_categories
from pipelines.ingest.definitions import defs
from pipelines.ingest.sensors import incoming_files_sensor
from tests.ingest.conftest import Landing

CONTACT = "C1,ana@example.com,,Ana,Ruiz,true,2025-01-02T10:00:00,{day}T09:00:00"
LINE = "O{n},1,{day}T09:00:00,in_store,S1,{customer},,,,beans-1,beans,1,12.50,0"


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        event.asset_key.to_user_string(): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def test_materialize_one_partition(landing: Landing, tmp_path: Path) -> None:
    landing.contacts("2025-03-04", CONTACT.format(day="2025-03-04"))
    landing.order_lines(
        "2025-03-04",
        LINE.format(n=1, day="2025-03-04", customer="C1"),
        LINE.format(n=2, day="2025-03-04", customer="C404"),
    )
    warehouse = tmp_path / "ingest.duckdb"

    result = dg.materialize(
        ingest_assets,
        partition_key="2025-03-04",
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        selection=dg.AssetSelection.groups("ingest")
        - dg.AssetSelection.keys("raw/product_categories"),
    )

    assert result.success
    orders = metadata(result)["raw/pos_order_lines"]
    assert (orders["rows_read"], orders["rows_loaded"], orders["rows_quarantined"]) == (2, 1, 1)
    assert orders["quarantined_by_reason"]["unknown_customer"] == 1
    assert orders["files_read"] == 1
    assert "pos/2025-03-04/order_lines.csv" in orders["files"]
    assert (
        "unknown_customer" in orders["quarantine_sample"] and "C404" in orders["quarantine_sample"]
    )
    assert metadata(result)["raw/web_events"]["rows_read"] == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.pos_order_lines").fetchone() == (1,)
        assert con.execute("select reason from raw.quarantine").fetchall() == [
            ("unknown_customer",)
        ]


def test_a_date_range_runs_as_one_run_and_catalogue_is_written(
    landing: Landing, tmp_path: Path
) -> None:
    days = ["2025-03-03", "2025-03-04", "2025-03-05"]
    for n, day in enumerate(days):
        landing.contacts(day, CONTACT.format(day=day))
        landing.order_lines(day, LINE.format(n=n, day=day, customer="C1"))
    warehouse = tmp_path / "ingest.duckdb"

    result = dg.materialize(
        ingest_assets,
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        tags={
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        },
        selection=dg.AssetSelection.keys(
            "raw/crm_contacts", "raw/pos_order_lines"
        ).required_multi_asset_neighbors(),
    )

    assert result.success
    # one materialization per day, each with that day's own counts (the partitions view)
    per_day = {
        event.partition: {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["raw", "pos_order_lines"])
    }
    assert sorted(per_day) == days
    assert [per_day[d]["dagster/row_count"] for d in days] == [1, 1, 1]
    assert f"pos/{days[0]}/order_lines.csv" in per_day[days[0]]["files"]
    assert f"pos/{days[1]}/order_lines.csv" not in per_day[days[0]]["files"]
    # the run's summary once, on the newest day, which is the asset's latest materialization
    assert "run_rows_loaded" not in per_day[days[0]]
    newest = metadata(result)["raw/pos_order_lines"]
    assert newest == per_day[days[-1]]
    assert (newest["run_rows_loaded"], newest["run_files_read"]) == (3, 3)
    assert metadata(result)["raw/crm_contacts"]["days"].startswith("2025-03-03 .. 2025-03-05")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded_days = con.execute(
            "select count(distinct _partition_date) from raw.pos_order_lines"
        ).fetchone()
        assert loaded_days == (3,)

    catalogue = dg.materialize(
        [product_categories],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
    )
    assert catalogue.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        codes = {r[0] for r in con.execute("select code from raw.product_categories").fetchall()}
    assert {"coffee", "beans", "gift_card"} <= codes


def test_assets_follow_the_dagster_contract() -> None:
    # the top level provides the warehouse resource
    with_resources = dg.Definitions.merge(
        defs, dg.Definitions(resources={"duckdb": DuckDBResource(database=":memory:")})
    )
    graph = with_resources.resolve_asset_graph()
    for name in (
        "crm_contacts",
        "crm_tickets",
        "crm_email_events",
        "pos_order_lines",
        "web_events",
    ):
        node = graph.get(dg.AssetKey(["raw", name]))
        assert node.partitions_def is not None
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
        assert node.group_name == "ingest"
    assert (
        dg.AssetKey(["raw", "crm_contacts"])
        in graph.get(dg.AssetKey(["raw", "pos_order_lines"])).parent_keys
    )


def test_sensor_requests_new_and_changed_days_once(landing: Landing) -> None:
    landing.contacts("2025-03-03", CONTACT.format(day="2025-03-03"))
    landing.contacts("2025-03-04", CONTACT.format(day="2025-03-04"))
    landing.order_lines("2025-03-06", LINE.format(n=1, day="2025-03-06", customer="C1"))
    (landing.incoming / "web" / "2025-03-07").mkdir(parents=True)  # empty: nothing to load
    landing.contacts(
        date.today().isoformat(), CONTACT.format(day="2025-03-04")
    )  # not a partition yet

    with dg.instance_for_test() as instance:
        first = incoming_files_sensor(dg.build_sensor_context(instance=instance))
        again = incoming_files_sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor)
        )
        landing.order_lines(
            "2025-03-06",
            LINE.format(n=2, day="2025-03-06", customer="C1"),
            name="order_lines_late.csv",
        )
        changed = incoming_files_sensor(
            dg.build_sensor_context(instance=instance, cursor=again.cursor)
        )

    ranges = [
        (r.partition_key, r.tags.get("dagster/asset_partition_range_start"),
         r.tags.get("dagster/asset_partition_range_end"))
        for r in first.run_requests
    ]  # fmt: skip
    assert ranges == [(None, "2025-03-03", "2025-03-04"), ("2025-03-06", None, None)]
    assert again.run_requests == []
    assert [r.partition_key for r in changed.run_requests] == ["2025-03-06"]
    assert date.today().isoformat() not in json.loads(changed.cursor)
