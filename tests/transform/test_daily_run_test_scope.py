"""On a daily run the data tests of the incremental histories check what the run wrote.

A full build writes five weekly snapshots (2025-02-03 to 03-03, also the latest day). A run nine
days later writes two: the new weekly snapshot of 2025-03-10 and the latest day, 2025-03-12. The
first two snapshots, before the first purchase, hold no category spend, so customer_category_spend
builds them again on every run; that must not widen its tests to the whole history. A bad row
planted in a snapshot that run wrote fails its tests; one planted in an older snapshot is not
checked again by it, but is by a full build's tests (or with the var
`data_tests_check_all_rows`). The same holds for the order lines by their load time, and for the
identity graph's links, whose key the run appended is checked against every stored link.
(macros/rows_written_by_the_run.sql)
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.transform.build_args import dbt_build_args
from tests.transform.dbt_runner import run_dbt
from tests.transform.raw_tables import create_raw_tables, espresso_line, insert_rows

OLD_SNAPSHOT = "2025-02-24"
WEEKLY_SNAPSHOT_OF_THE_DAILY_RUN = "2025-03-10"
LATEST_SNAPSHOT = "2025-03-12"
FIRST_LOAD = "2025-03-03 02:00:00"
SECOND_LOAD = "2025-03-12 02:00:00"


@dataclass(frozen=True)
class Warehouses:
    after_full_build: Path
    after_daily_run: Path


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Warehouses:
    root = tmp_path_factory.mktemp("test_scope")
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_raw_tables(con)
        # a contact who signs up a week before the first purchase and never buys
        insert_rows(
            con,
            "crm_contacts",
            [
                {
                    "contact_id": "C9",
                    "email": "cleo@example.com",
                    "marketing_consent": False,
                    "created_at": "2025-01-30 12:00:00",
                    "updated_at": "2025-01-30 12:00:00",
                }
            ],
            partition_date="2025-01-30",
            loaded_at=FIRST_LOAD,
        )
        insert_rows(
            con,
            "pos_order_lines",
            [
                espresso_line("A1", "2025-02-10 09:00:00", email="ana@example.com"),
                espresso_line("B1", "2025-02-18 10:00:00", email="ben@example.com"),
                espresso_line("A2", "2025-03-02 11:00:00", email="ana@example.com"),
            ],
            partition_date="2025-03-02",
            loaded_at=FIRST_LOAD,
        )
    run_dbt(warehouse, root / "full", dbt_build_args())
    after_full_build = root / "after_full_build.duckdb"
    shutil.copy(warehouse, after_full_build)

    with duckdb.connect(str(warehouse)) as con:
        insert_rows(
            con,
            "pos_order_lines",
            [
                espresso_line("B2", "2025-03-05 09:00:00", email="ben@example.com"),
                espresso_line("A3", "2025-03-11 18:00:00", email="ana@example.com"),
            ],
            partition_date="2025-03-11",
            loaded_at=SECOND_LOAD,
        )
    run_dbt(warehouse, root / "daily", dbt_build_args())
    return Warehouses(after_full_build=after_full_build, after_daily_run=warehouse)


def planted(source: Path, tmp_path: Path, statements: list[str]) -> Path:
    """A copy of `source` with bad rows planted by `statements`."""
    copy = tmp_path / "planted.duckdb"
    shutil.copy(source, copy)
    with duckdb.connect(str(copy)) as con:
        for statement in statements:
            con.execute(statement)
    return copy


def failures_found(warehouse: Path, work_dir: Path, *extra: str) -> tuple[int, dict[str, int]]:
    """dbt's exit code and the failing rows of each failing data test (name without the hash).

    `dbt test` of the two models' data tests, as `dbt build` runs them after the models.
    """
    results = run_dbt(
        warehouse,
        work_dir,
        [
            "test",
            "--select",
            "customer_features",
            "int_order_lines_deduplicated",
            "int_identity_edges",
            "--exclude-resource-type",
            "unit_test",
            *extra,
        ],
        check=False,
    )
    failing = {
        r["unique_id"].split(".")[2]: r["failures"]
        for r in results["results"]
        if r["unique_id"].startswith("test.") and r["status"] != "pass"
    }
    return results["returncode"], failing


def duplicate_feature_row(as_of_date: str) -> str:
    return (
        "insert into marts.customer_features select * from marts.customer_features "
        f"where as_of_date = date '{as_of_date}' order by customer_key desc limit 1"
    )


def null_tenure(as_of_date: str) -> str:
    # another customer than the duplicated row's, so each bad row is one failure
    return (
        "update marts.customer_features set tenure_days = null "
        f"where as_of_date = date '{as_of_date}' and customer_key = "
        "(select min(customer_key) from marts.customer_features "
        f"where as_of_date = date '{as_of_date}')"
    )


def duplicate_order_line(order_id: str) -> str:
    return (
        "insert into intermediate.int_order_lines_deduplicated "
        f"select * from intermediate.int_order_lines_deduplicated where order_id = '{order_id}'"
    )


def unknown_channel(order_id: str, channel: str) -> str:
    # accepted_values counts each unknown value once, so each planted order has its own
    return (
        f"update intermediate.int_order_lines_deduplicated set channel = '{channel}' "
        f"where order_id = '{order_id}'"
    )


def link_again(order_id: str, loaded_at: str) -> str:
    """The link of an order stored a second time, as if appended by the load at `loaded_at`."""
    return (
        "insert into intermediate.int_identity_edges "
        f"select * replace (timestamp '{loaded_at}' as _loaded_at) "
        f"from intermediate.int_identity_edges where identifier_value = '{order_id}' limit 1"
    )


UNIQUE_FEATURES = "unique_combination_customer_features_customer_key__as_of_date"
NOT_NULL_TENURE = "not_null_customer_features_tenure_days"
UNIQUE_LINES = "unique_combination_int_order_lines_deduplicated_order_id__line_number"
UNIQUE_LINKS = "unique_written_keys_int_identity_edges_link_key"
CHANNEL = "accepted_values_int_order_lines_deduplicated_channel__in_store__online"
# A1 was loaded by the full build, A3 by the daily run
OLD_BAD_ROWS = [
    duplicate_feature_row(OLD_SNAPSHOT),
    null_tenure(OLD_SNAPSHOT),
    duplicate_order_line("A1"),
    unknown_channel("B1", "drive_thru"),
    link_again("B1", FIRST_LOAD),
]
NEW_BAD_ROWS = [
    duplicate_feature_row(LATEST_SNAPSHOT),
    duplicate_feature_row(WEEKLY_SNAPSHOT_OF_THE_DAILY_RUN),
    null_tenure(LATEST_SNAPSHOT),
    duplicate_order_line("A3"),
    unknown_channel("B2", "kiosk"),
    # an old link appended again: a new row that collides with a stored one
    link_again("A1", SECOND_LOAD),
]


def test_the_daily_run_records_what_it_wrote(warehouses: Warehouses) -> None:
    with duckdb.connect(str(warehouses.after_daily_run), read_only=True) as con:
        snapshots = [
            str(d)
            for (d,) in con.execute(
                "select distinct as_of_date from marts.customer_features order by 1"
            ).fetchall()
        ]
        scope = dict(
            con.execute("select model, written_where from dbt_meta.rows_written").fetchall()
        )
        spend_in_scope = [
            str(d)
            for (d,) in con.execute(
                "select distinct as_of_date from marts.customer_category_spend "
                f"where {scope['marts.customer_category_spend']} order by 1"
            ).fetchall()
        ]
    assert snapshots == [
        "2025-02-03",
        "2025-02-10",
        "2025-02-17",
        OLD_SNAPSHOT,
        "2025-03-03",
        "2025-03-10",
        LATEST_SNAPSHOT,
    ]
    assert scope["marts.customer_features"] == (
        f"as_of_date in (date '{WEEKLY_SNAPSHOT_OF_THE_DAILY_RUN}', date '{LATEST_SNAPSHOT}')"
    )
    # the spend scope also names the two empty snapshots it built again, but holds only the
    # rows of the two this run added
    assert spend_in_scope == [WEEKLY_SNAPSHOT_OF_THE_DAILY_RUN, LATEST_SNAPSHOT]
    assert scope["intermediate.int_order_lines_deduplicated"] == (
        f"_loaded_at > timestamp '{FIRST_LOAD}'"
    )


def test_the_daily_run_checks_every_row_it_wrote_and_no_older_one(
    warehouses: Warehouses, tmp_path: Path
) -> None:
    warehouse = planted(warehouses.after_daily_run, tmp_path, OLD_BAD_ROWS + NEW_BAD_ROWS)
    # both snapshots it wrote (the weekly one and the latest day), the lines it loaded and the
    # link it appended; the bad rows of 2025-02-24, of orders A1 and B1 and of B1's link are not
    # checked again
    assert failures_found(warehouse, tmp_path / "daily") == (
        1,
        {UNIQUE_FEATURES: 2, NOT_NULL_TENURE: 1, UNIQUE_LINES: 1, CHANNEL: 1, UNIQUE_LINKS: 1},
    )
    # every row when asked for
    assert failures_found(
        warehouse, tmp_path / "all_rows", "--vars", "{data_tests_check_all_rows: true}"
    ) == (
        1,
        {UNIQUE_FEATURES: 3, NOT_NULL_TENURE: 2, UNIQUE_LINES: 2, CHANNEL: 2, UNIQUE_LINKS: 2},
    )


def test_a_full_build_checks_every_snapshot(warehouses: Warehouses, tmp_path: Path) -> None:
    warehouse = planted(warehouses.after_full_build, tmp_path, OLD_BAD_ROWS)
    assert failures_found(warehouse, tmp_path / "full") == (
        1,
        {UNIQUE_FEATURES: 1, NOT_NULL_TENURE: 1, UNIQUE_LINES: 1, CHANNEL: 1, UNIQUE_LINKS: 1},
    )
