"""The daily build of the category spend totals places again the lines whose snapshot moved.

int_category_spend_running places each order line at the first feature snapshot after it and
keeps a running total per customer and category from there. A daily run computes again only the
customers whose totals can have changed. Two of them changed without a new line of their own:

- Ana bought on a Wednesday and Cleo the Wednesday before. The first build placed Ana's line at
  the latest day, that Thursday, and Cleo's at the Monday between. With a history window of a
  week, neither date is a snapshot a week later: both lines belong to the next Monday.
- Ben's Wednesday purchase was after the as-of date a backfill pinned, so no snapshot saw it,
  and a late export loaded after it was placed. The next build, with nothing loaded, must place
  it.

After each build the totals equal a `--full-refresh` rebuild of the same warehouse.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb

from tests.transform.dbt_runner import run_dbt
from tests.transform.raw_tables import espresso_line, load_day

TOTALS = "intermediate.int_category_spend_running"
SELECT = ["run", "--select", "+int_category_spend_running"]


def totals(warehouse: Path) -> dict[str, list[tuple[object, ...]]]:
    """Per buyer, named by their first order: (visible_from, changes_at, net_revenue) of each
    coffee total, in order."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            f"""
            with buyers as (
                select customer_key, min(order_id) as first_order
                from marts.orders group by customer_key
            )
            select buyers.first_order, totals.visible_from, totals.changes_at, totals.net_revenue
            from {TOTALS} as totals
            join buyers using (customer_key)
            order by all
            """
        ).fetchall()
    by_buyer: dict[str, list[tuple[object, ...]]] = {}
    for email, *total in rows:
        by_buyer.setdefault(email, []).append(tuple(total))
    return by_buyer


def assert_same_as_a_full_rebuild(warehouse: Path, work: Path, args: list[str]) -> None:
    rebuilt = work / "rebuilt.duckdb"
    work.mkdir()
    shutil.copy(warehouse, rebuilt)
    run_dbt(rebuilt, work / "rebuild", [*args, "--full-refresh"])
    assert totals(rebuilt) == totals(warehouse)


def load_cleo_and_ana(warehouse: Path) -> None:
    """Cleo's espresso on Wednesday 26 February and Ana's on Wednesday 5 March, each in its drop."""
    cleo = espresso_line("B0", "2025-02-26 09:00:00", email="cleo@example.com")
    ana = espresso_line("A1", "2025-03-05 10:00:00", email="ana@example.com")
    load_day(warehouse, "2025-02-26", pos_order_lines=[cleo])
    load_day(warehouse, "2025-03-05", pos_order_lines=[ana])


def test_lines_whose_snapshot_left_the_list_are_placed_again(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    # a history window of a week: the snapshot dates move on with the latest day
    select = [*SELECT, "--vars", json.dumps({"feature_history_days": 7})]
    load_cleo_and_ana(warehouse)
    run_dbt(warehouse, tmp_path / "first", select)
    # Monday 3 March sees Cleo's line; Ana's is seen first by the latest day, Thursday 6 March
    first = totals(warehouse)
    assert first["B0"] == [(date(2025, 3, 3), date(9999, 12, 31), 3.5)]
    assert first["A1"] == [(date(2025, 3, 6), date(9999, 12, 31), 3.5)]

    dan = espresso_line("D1", "2025-03-11 08:00:00", email="dan@example.com")
    load_day(warehouse, "2025-03-11", pos_order_lines=[dan])
    run_dbt(warehouse, tmp_path / "daily", select)
    # The latest day is Wednesday 12 March and the window starts on 5 March: Monday 10 March is
    # the first snapshot to see Ana's line (her Thursday is gone) and Cleo's (her Monday left the
    # window), though neither bought again.
    daily = totals(warehouse)
    assert daily["A1"] == [(date(2025, 3, 10), date(9999, 12, 31), 3.5)]
    assert daily["B0"] == [(date(2025, 3, 10), date(9999, 12, 31), 3.5)]
    assert daily["D1"] == [(date(2025, 3, 12), date(9999, 12, 31), 3.5)]
    assert_same_as_a_full_rebuild(warehouse, tmp_path / "check", select)


def test_a_line_after_a_pinned_as_of_date_is_placed_by_the_next_build(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    ben = [
        espresso_line("B0", "2025-02-26 09:00:00", email="ben@example.com"),
        espresso_line("B1", "2025-03-05 10:00:00", email="ben@example.com"),
    ]
    load_day(warehouse, "2025-02-26", pos_order_lines=ben[:1])
    load_day(warehouse, "2025-03-05", pos_order_lines=ben[1:])
    # a late export: Cleo's Monday purchase arrives after Ben's, so it is the newest load
    late = espresso_line("C0", "2025-03-03 08:00:00", email="cleo@example.com")
    load_day(warehouse, "2025-03-06", pos_order_lines=[late])
    pinned = [*SELECT, "--vars", json.dumps({"features_as_of_date": "2025-03-04"})]
    run_dbt(warehouse, tmp_path / "backfill", pinned)
    # as of Tuesday 4 March no snapshot sees Ben's Wednesday line
    assert totals(warehouse)["B0"] == [(date(2025, 3, 3), date(9999, 12, 31), 3.5)]

    # Nothing new is loaded, and Ben's line was loaded before the newest line placed: the build
    # must still place it, at the latest day (Thursday 6 March).
    run_dbt(warehouse, tmp_path / "daily", SELECT)
    assert totals(warehouse)["B0"] == [
        (date(2025, 3, 3), date(2025, 3, 6), 3.5),
        (date(2025, 3, 6), date(9999, 12, 31), 7.0),
    ]
    assert_same_as_a_full_rebuild(warehouse, tmp_path / "check", SELECT)


def test_snapshot_dates_added_between_placed_lines_place_every_line_again(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    load_cleo_and_ana(warehouse)
    run_dbt(warehouse, tmp_path / "weekly", SELECT)
    weekly = totals(warehouse)

    # Daily snapshots instead of weekly: the Monday that saw Cleo's line is still listed, but
    # Thursday 27 February now sees it first, so every line placed is placed again.
    daily = [*SELECT, "--vars", json.dumps({"feature_snapshot_every_days": 1})]
    run_dbt(warehouse, tmp_path / "daily", daily)
    assert weekly["B0"] == [(date(2025, 3, 3), date(9999, 12, 31), 3.5)]
    assert totals(warehouse)["B0"] == [(date(2025, 2, 27), date(9999, 12, 31), 3.5)]
    assert_same_as_a_full_rebuild(warehouse, tmp_path / "check", daily)


def test_totals_of_a_version_without_shares_are_all_computed_again(tmp_path: Path) -> None:
    # The version before kept one row per category total, without shares. A daily run on its
    # table must compute every customer again, not only those with something new: Cleo's line
    # is older than the newest regular snapshot, so only a full computation gives her a share.
    warehouse = tmp_path / "warehouse.duckdb"
    load_cleo_and_ana(warehouse)
    run_dbt(warehouse, tmp_path / "first", SELECT)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"alter table {TOTALS} drop column share")

    run_dbt(warehouse, tmp_path / "upgraded", SELECT)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        shares = con.sql(
            f"select order_id, share from {TOTALS} join marts.orders using (customer_key) "
            "order by all"
        ).fetchall()
    # each bought one espresso: all of their spend is coffee
    assert shares == [("A1", 1.0), ("B0", 1.0)]
    assert_same_as_a_full_rebuild(warehouse, tmp_path / "check", SELECT)
