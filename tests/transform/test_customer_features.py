"""dbt build on the hand-written café (fixture_business.py), checked against hand computations.

Two daily loads are built one after the other, as the daily run does: the second run must read
only the second load's rows and add only the new snapshots.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.transform.build_args import dbt_build_args
from tests.transform.dbt_runner import rebuild_features_through_the_stream, run_dbt
from tests.transform.fixture_business import write_first_load, write_second_load
from tests.transform.identity_score import score_against_truth


@dataclass(frozen=True)
class TwoDailyRuns:
    warehouse: Path
    first: dict[str, Any]
    second: dict[str, Any]
    history_after_first: list[tuple]


def _features_rows(con: duckdb.DuckDBPyConnection, as_of: str) -> list[tuple]:
    return con.execute(
        "select * from marts.customer_features where as_of_date = ? order by customer_key",
        [as_of],
    ).fetchall()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> TwoDailyRuns:
    work = tmp_path_factory.mktemp("transform")
    warehouse = work / "warehouse.duckdb"
    write_first_load(warehouse)
    first = run_dbt(warehouse, work, dbt_build_args())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        history = _features_rows(con, "2025-03-03")
    write_second_load(warehouse)
    second = run_dbt(warehouse, work, dbt_build_args())
    return TwoDailyRuns(warehouse, first, second, history)


def key_of(con: duckdb.DuckDBPyConnection, identifier_type: str, value: str) -> str | None:
    row = con.execute(
        "select customer_key from marts.customer_identifiers "
        "where identifier_type = ? and identifier_value = ?",
        [identifier_type, value],
    ).fetchone()
    return row[0] if row else None


def features(con: duckdb.DuckDBPyConnection, contact_id: str, as_of: str) -> dict[str, Any]:
    relation = con.execute(
        "select * from marts.customer_features where as_of_date = ? and customer_key = ?",
        [as_of, key_of(con, "contact_id", contact_id)],
    )
    columns = [d[0] for d in relation.description]
    rows = relation.fetchall()
    assert len(rows) == 1, (
        f"{contact_id} as of {as_of}: expected one features row, found {len(rows)}"
    )
    return dict(zip(columns, rows[0], strict=True))


def assert_features(found: dict[str, Any], expected: dict[str, Any], who: str) -> None:
    wrong = {
        column: (value, found[column])
        for column, value in expected.items()
        if not (
            found[column] == pytest.approx(value)
            if isinstance(value, float)
            else found[column] == value
        )
    }
    assert not wrong, f"{who}: column: (expected, found) {wrong}"


@pytest.fixture
def con(runs: TwoDailyRuns) -> duckdb.DuckDBPyConnection:
    with duckdb.connect(str(runs.warehouse), read_only=True) as connection:
        yield connection


def test_every_dbt_test_passed_in_both_runs(runs: TwoDailyRuns) -> None:
    for run in (runs.first, runs.second):
        statuses = {r["unique_id"]: r["status"] for r in run["results"]}
        failed = {
            node: status for node, status in statuses.items() if status not in {"success", "pass"}
        }
        assert not failed
        assert any(node.startswith("unit_test.") for node in statuses)


def test_alice_as_of_monday_matches_hand_computation(con) -> None:
    # Before 2025-03-10: O1 (2025-03-01, coffee 2 x 3.50 + pastry 4.00 - 1.00 discount = 10.00,
    # in store), O2 (2025-03-05 18:00, beans 12.00 online) and the return O5 (-12.00, 2025-03-06).
    # First seen: contact C1 created 2025-01-05. Web: one session on 2025-03-02 (2 pages, 1
    # product, 1 add-to-cart, no purchase). Ticket T2 found by her email, score 2.
    expected = {
        "first_order_at": datetime(2025, 3, 1, 10),
        "last_order_at": datetime(2025, 3, 5, 18),
        "recency_days": 5,  # 03-10 minus 03-05
        "frequency": 2,  # O1 and O2; the return is not a purchase
        "frequency_90d": 2,
        "frequency_365d": 2,
        "monetary": 10.0,  # 10 + 12 - 12
        "monetary_90d": 10.0,
        "monetary_365d": 10.0,
        "avg_order_value": 11.0,  # (10 + 12) / 2
        "tenure_days": 64,  # 2025-01-05 to 2025-03-10
        "mean_days_between_orders": 4.0,  # (03-05 - 03-01) / (2 - 1)
        "top_category": "coffee",  # coffee 7.00, pastry 3.00, beans 12 - 12 = 0
        "top_category_share": 0.7,
        "online_share": 0.5,
        # O1 on Saturday 10:00, O2 on Wednesday 18:00; the return (Thursday 11:00) is no purchase
        "weekend_order_share": 0.5,
        "morning_order_share": 0.5,
        "discount_share": 1 / 23,  # 1.00 off 7 + 4 + 12 gross
        "return_rate": 0.25,  # 1 returned line out of 4
        "web_sessions_30d": 1,
        "web_sessions_90d": 1,
        "page_views_30d": 2,
        "page_views_90d": 2,
        "product_views_30d": 1,
        "add_to_carts_30d": 1,
        "cart_abandonments_30d": 1,
        "days_since_last_visit": 8,
        "is_first_time_visitor": True,
        "support_tickets_365d": 1,
        "avg_satisfaction": 2.0,
        "email_opens_90d": None,  # the shop has no email source
        "email_clicks_90d": None,
    }
    assert_features(features(con, "C1", "2025-03-10"), expected, "Alice as of 2025-03-10")


def test_order_one_second_before_midnight_counts_and_midnight_does_not(con) -> None:
    # Bob: O4 at 2025-03-09 23:59:59 (tea 2 x 5.00 online), O6 at 2025-03-10 00:00:00 (4.00).
    monday = {
        "frequency": 1,
        "monetary": 10.0,
        "last_order_at": datetime(2025, 3, 9, 23, 59, 59),
        "recency_days": 1,
        "mean_days_between_orders": None,
        "online_share": 1.0,
        # O4 on Sunday one second before midnight: a weekend evening purchase
        "weekend_order_share": 1.0,
        "morning_order_share": 0.0,
        "top_category": "tea",
        "top_category_share": 1.0,
        # the guest purchase session on K2 and his login on the shop's tablet on 2025-02-20
        "web_sessions_30d": 2,
        "days_since_last_visit": 1,
        "is_first_time_visitor": False,
        "support_tickets_365d": 1,
        "avg_satisfaction": 4.0,
    }
    assert_features(features(con, "C2", "2025-03-10"), monday, "Bob as of 2025-03-10")
    tuesday = {
        "frequency": 2,
        "monetary": 14.0,
        "last_order_at": datetime(2025, 3, 10),
        "recency_days": 1,
        "online_share": 0.5,
        # O6 at Monday 00:00 counts from Tuesday on: a weekday morning purchase
        "weekend_order_share": 0.5,
        "morning_order_share": 0.5,
        "mean_days_between_orders": 1.0,
    }
    assert_features(features(con, "C2", "2025-03-11"), tuesday, "Bob as of 2025-03-11")


def test_customer_without_orders_gets_zero_counts_not_nulls(con) -> None:
    # Carol never bought; her only web session is her login on the shop's tablet (2025-02-21).
    expected = {
        "frequency": 0,
        "monetary": 0.0,
        "recency_days": None,
        "avg_order_value": None,
        "weekend_order_share": None,
        "morning_order_share": None,
        "web_sessions_30d": 1,
        "is_first_time_visitor": True,
        "support_tickets_365d": 0,
        "email_opens_90d": None,
    }
    assert_features(features(con, "C4", "2025-03-10"), expected, "Carol as of 2025-03-10")


def test_history_keeps_weekly_snapshots_plus_latest_day(con) -> None:
    dates = [
        r[0]
        for r in con.execute(
            "select distinct as_of_date from marts.customer_features order by 1"
        ).fetchall()
    ]
    # Mondays from the first week with activity, and the latest day (after the newest order)
    assert dates[-3:] == [date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 11)]
    assert all(d.weekday() == 0 for d in dates[:-1])
    # the first run's latest day (2025-03-07, a Friday) was replaced by the new latest day
    assert date(2025, 3, 7) not in dates
    # the category spend history keeps the same days (its post-hook deletes the Friday too)
    spend_dates = [
        r[0]
        for r in con.execute(
            "select distinct as_of_date from marts.customer_category_spend order by 1"
        ).fetchall()
    ]
    assert spend_dates[-3:] == dates[-3:]
    assert date(2025, 3, 7) not in spend_dates


def test_second_daily_run_reads_only_the_new_rows(runs: TwoDailyRuns, con) -> None:
    second_invocation = runs.second["metadata"]["invocation_id"]
    by_run = dict(
        con.execute(
            "select _dbt_invocation_id = ?, count(*) "
            "from intermediate.int_order_lines_deduplicated group by 1",
            [second_invocation],
        ).fetchall()
    )
    # second load: O4, O6 and the re-sent O2 line; the first load's other 10 lines are untouched
    assert by_run == {True: 3, False: 10}
    new_events = con.execute(
        "select count(*) from intermediate.int_web_events_deduplicated "
        "where _dbt_invocation_id = ?",
        [second_invocation],
    ).fetchone()[0]
    assert new_events == 2
    # the weekly snapshot of 2025-03-03 was not recomputed: identical to the first run's rows
    assert _features_rows(con, "2025-03-03") == runs.history_after_first


def test_identity_merges_one_person_and_refuses_shared_identifiers(con) -> None:
    alice = key_of(con, "contact_id", "C1")
    # duplicate contact (same email written differently, phone in national format), her loyalty
    # card and her logged-in cookie are one person
    assert alice is not None
    assert key_of(con, "contact_id", "C3") == alice
    assert key_of(con, "loyalty_id", "L1") == alice
    assert key_of(con, "cookie", "K1") == alice
    # Bob's guest checkout is linked by email, and its purchase links the guest cookie K2
    bob = key_of(con, "contact_id", "C2")
    assert key_of(con, "cookie", "K2") == bob
    assert (
        con.execute("select customer_key from marts.orders where order_id = 'O4'").fetchone()[0]
        == bob
    )
    # info@ and the shop's tablet are shared: Carol, Dan and Erin stay three people
    people = {key_of(con, "contact_id", c) for c in ("C4", "C5", "C6")}
    assert len(people) == 3
    excluded = dict(
        con.execute("select identifier_type, reason from marts.excluded_identifiers").fetchall()
    )
    assert set(excluded) == {"email", "cookie", "loyalty_id"}
    assert "3 distinct contact_id" in excluded["cookie"]
    # the staff card lent at the till: its six orders are nobody's, not Sam's
    assert excluded["loyalty_id"].startswith("on 6 orders on 2025-03-04")
    staff_orders = con.execute(
        "select count(*) from marts.orders where order_id like 'S%' and customer_key is null"
    ).fetchone()[0]
    assert staff_orders == 6
    assert features(con, "C7", "2025-03-10")["frequency"] == 0
    # the anonymous in-store order has no customer
    assert (
        con.execute("select customer_key from marts.orders where order_id = 'O3'").fetchone()[0]
        is None
    )

    def evidence_of(key: str) -> set[str]:
        rows = con.execute(
            "select evidence from marts.identity_merges where customer_key = ?", [key]
        ).fetchall()
        return {r[0] for r in rows}

    # every merge is recorded with its evidence; Bob's login on the tablet merged nothing
    assert {"crm_contact", "pos_order", "web_login"} <= evidence_of(alice)
    assert evidence_of(bob) == {"crm_contact", "pos_order", "web_purchase"}


def test_personal_data_reaches_the_marts_only_for_consented_customers(con) -> None:
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "select contact_id, email, first_name, marketing_consent, email_hash from marts.customers"
        ).fetchall()
    }
    # consent is read from the latest contact: Alice consented again on her newer duplicate C3
    alice = next(v for k, v in rows.items() if k in {"C1", "C3"})
    assert alice[:3] == ("alice@example.com", "Alice", True)
    assert rows["C2"][:3] == (None, None, False)
    assert all(len(v[3]) == 64 for v in rows.values() if v[3] is not None)
    for table in ("orders", "web_sessions", "customer_features", "identity_merges"):
        text = con.execute(
            f"select string_agg(t::varchar, ' ') from marts.{table} as t"
        ).fetchone()[0]
        assert "example.com" not in text.lower(), f"a plain email reached marts.{table}"


def test_identity_score_against_a_hand_written_truth(runs: TwoDailyRuns, tmp_path: Path) -> None:
    # The truth says Carol's two info@ contacts (C4, C5) are in fact one person, which the guard
    # rail cannot know; everything else is as the fixture tells it.
    people = {
        "alice": ["C1", "C3"],
        "bob": ["C2"],
        "carol": ["C4", "C5"],
        "erin": ["C6"],
        "sam": ["C7"],
    }
    identifiers = [
        (person, "contact_id", contact, False)
        for person, contacts in people.items()
        for contact in contacts
    ]
    identifiers += [
        ("alice", "user_pseudo_id", "K1", False),
        ("bob", "user_pseudo_id", "K2", False),
        ("bob", "user_pseudo_id", "K3", True),
        ("sam", "loyalty_id", "L9", True),
    ]
    orders = [("O1", "alice"), ("O2", "alice"), ("O5", "alice"), ("O4", "bob"), ("O6", "bob")]
    orders += [("O3", "stranger")] + [(f"S{n}", f"customer{n}") for n in range(6)]
    with duckdb.connect() as con:
        con.execute(
            "create table identifiers (person_id varchar, identifier_type varchar, "
            "identifier_value varchar, is_shared boolean)"
        )
        con.executemany("insert into identifiers values (?, ?, ?, ?)", identifiers)
        con.execute("create table orders (order_id varchar, person_id varchar)")
        con.executemany("insert into orders values (?, ?)", orders)
        con.execute(f"copy identifiers to '{tmp_path / 'identifiers.parquet'}'")
        con.execute(f"copy orders to '{tmp_path / 'orders.parquet'}'")

    score, unscored = score_against_truth(runs.warehouse, tmp_path)

    # scored: Alice's 3 orders, 2 contacts, 1 cookie (15 pairs); Bob's 2 orders, contact and K2
    # (6 pairs); Carol's 2 contacts (1 pair), Erin, Sam. O3 and the six staff-card orders carry
    # nothing usable.
    assert (score.records, score.true_pairs, score.predicted_pairs, score.correct_pairs) == (
        14,
        22,
        21,
        21,
    )
    assert score.precision == 1.0
    assert unscored == 7


def test_full_refresh_gives_the_same_keys_and_latest_features(
    runs: TwoDailyRuns, tmp_path: Path
) -> None:
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(runs.warehouse, rebuilt)
    run_dbt(rebuilt, tmp_path, dbt_build_args(full_refresh=True))

    def keys_latest_and_totals(
        path: Path,
    ) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
        with duckdb.connect(str(path), read_only=True) as con:
            keys = con.execute(
                "select identifier_type, identifier_value, customer_key "
                "from marts.customer_identifiers order by all"
            ).fetchall()
            latest = _features_rows(con, "2025-03-11")
            totals = con.execute(
                "select customer_key, category_code, visible_from, changes_at, net_revenue, share "
                "from intermediate.int_category_spend_running order by all"
            ).fetchall()
            spend = con.execute(
                "select customer_key, as_of_date, category_code, net_revenue, share "
                "from marts.customer_category_spend order by all"
            ).fetchall()
        return keys, latest, totals, spend

    incremental_keys, incremental_latest, incremental_totals, incremental_spend = (
        keys_latest_and_totals(runs.warehouse)
    )
    rebuilt_keys, rebuilt_latest, rebuilt_totals, rebuilt_spend = keys_latest_and_totals(rebuilt)
    # same evidence, same keys: a rebuild from scratch assigns every identifier the same customer
    assert rebuilt_keys == incremental_keys
    assert rebuilt_latest == incremental_latest
    # the category spend of every snapshot, the two days' runs wrote, as one rebuild writes it
    assert incremental_spend
    assert rebuilt_spend == incremental_spend
    # the second run placed again the lines the first run's latest day (a Friday) saw: at the
    # Monday snapshot it built, or at the new latest day
    assert rebuilt_totals == incremental_totals
    assert not [row for row in incremental_totals if row[2] == date(2025, 3, 7)]


def test_a_few_snapshots_summed_directly_equal_the_stream_of_changes(
    runs: TwoDailyRuns, tmp_path: Path
) -> None:
    # The second daily run built 2025-03-10 and 2025-03-11 by summing the events before each
    # directly. Rebuilt on a copy through the stream of changes (what a build of many snapshots
    # uses), the same two snapshots must come out row for row the same.
    streamed = rebuild_features_through_the_stream(runs.warehouse, tmp_path, "2025-03-10")

    for as_of in ("2025-03-10", "2025-03-11"):
        with duckdb.connect(str(runs.warehouse), read_only=True) as con:
            direct = _features_rows(con, as_of)
        with duckdb.connect(str(streamed), read_only=True) as con:
            stream = _features_rows(con, as_of)
        assert len(direct) >= 5, f"{as_of}: the fixture's customers are missing"
        assert stream == direct, f"{as_of}: the two ways of summing the features differ"

    # a threshold that is not a number stops dbt before it builds anything, naming the var and
    # what it found
    expected = r"feature_snapshots_summed_directly must be a whole number .*; found few"
    with pytest.raises(AssertionError, match=expected):
        run_dbt(
            streamed,
            tmp_path / "bad_var",
            [
                "run",
                "--select",
                "customer_features",
                "--vars",
                "{feature_snapshots_summed_directly: few}",
            ],
        )


def test_every_model_and_column_is_described(runs: TwoDailyRuns, tmp_path: Path) -> None:
    run_dbt(runs.warehouse, tmp_path, ["docs", "generate"])
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    models = {uid: node for uid, node in catalog["nodes"].items() if uid.startswith("model.")}
    assert len(models) >= 20
    gaps = {}
    for uid, built in models.items():
        declared = manifest["nodes"][uid]
        described = {name.lower() for name, c in declared["columns"].items() if c["description"]}
        missing = sorted({name.lower() for name in built["columns"]} - described)
        if missing or not declared["description"]:
            gaps[uid] = missing or ["(model description)"]
    assert not gaps, f"columns without a description in the model's YAML: {gaps}"
