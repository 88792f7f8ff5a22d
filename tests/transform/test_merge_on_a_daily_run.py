"""A daily run whose new evidence merges two customers still builds, and the latest day has one key.

Older snapshots of the incremental histories keep the keys they were computed with; only the
latest snapshot must point at `marts.customers`. At tier M a merge on the incremental day failed
the relationships test of `customer_category_spend` and with it the whole daily run.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.transform.build_args import dbt_build_args
from tests.transform.dbt_runner import run_dbt
from tests.transform.raw_tables import create_raw_tables, espresso_line, insert_rows


def test_a_merge_on_the_daily_run_builds_and_the_latest_snapshot_has_one_key(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_raw_tables(con)
        # Dana checks out online as a guest, and separately scans a loyalty card in store
        insert_rows(
            con,
            "pos_order_lines",
            [
                espresso_line("G1", "2025-02-24 09:00:00", email="dana@example.com"),
                espresso_line("L1", "2025-02-25 09:00:00", loyalty_id="L77"),
                # a week later: the weekly snapshot of Monday 2025-03-03 is kept in the history
                espresso_line("G2", "2025-03-04 09:00:00", email="dana@example.com"),
            ],
            partition_date="2025-03-02",
            loaded_at="2025-03-03 02:00:00",
        )
    run_dbt(warehouse, tmp_path, dbt_build_args())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        keys_before = con.execute("select count(*) from marts.customers").fetchall()[0][0]
    assert keys_before == 2

    with duckdb.connect(str(warehouse)) as con:
        # the next day's order carries both: the two customers are one person
        insert_rows(
            con,
            "pos_order_lines",
            [
                espresso_line(
                    "B1", "2025-03-09 09:00:00", email="dana@example.com", loyalty_id="L77"
                )
            ],
            partition_date="2025-03-10",
            loaded_at="2025-03-11 02:00:00",
        )
    second = run_dbt(warehouse, tmp_path, dbt_build_args())

    failed = {
        r["unique_id"]: r["status"]
        for r in second["results"]
        if r["status"] not in {"success", "pass"}
    }
    assert not failed
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.customers").fetchall()[0][0] == 1
        for history in ("customer_features", "customer_category_spend"):
            latest_keys = con.execute(
                f"select count(distinct customer_key) from marts.{history} "
                f"where as_of_date = (select max(as_of_date) from marts.{history})"
            ).fetchall()[0][0]
            assert latest_keys == 1, history
            # the older snapshot still holds both keys as they were computed then
            assert (
                con.execute(f"select count(distinct customer_key) from marts.{history}").fetchall()[
                    0
                ][0]
                == 2
            ), history
