"""Point in time through dbt: rewriting the future never changes a feature row of the past.

A generated sample is loaded into three warehouses. One is built as it is; in the second every
order and web event dated on or after the as-of date D is changed (prices tripled, an order
moved to exactly midnight of D, repeat orders and new sessions added), in the third the same
kind of change is made to the four weeks before D. After a full dbt build of each, every
`marts.customer_features` row with as_of_date <= D must be identical in the first two and must
differ in the third, so the comparison can see a leak. The churn model trains on these columns.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.predictive.churn import KEYS, feature_columns
from pipelines.predictive.config import DEFAULTS
from tests.predictive.sample_warehouse import build_marts
from tests.transform.test_identity_on_sample import load_sample

END = date(2026, 6, 30)
LATEST = END + timedelta(days=1)
DAYS = 150
# A weekly snapshot (Monday) seven weeks before the end, so later snapshots exist to change.
AS_OF = END - timedelta(days=49) - timedelta(days=(END - timedelta(days=49)).weekday())


def change_orders_and_web(con: duckdb.DuckDBPyConnection, since: date, until: date) -> None:
    """Change every order and web event with since <= timestamp < until, adding no identifier.

    Nothing here links identifiers that were not linked before (copies carry the identifiers of
    the orders and sessions they copy, purchase events are not copied), so identity resolution,
    which sees all of time, gives every customer the same key.
    """
    window = f"ordered_at >= timestamp '{since}' and ordered_at < timestamp '{until}'"
    con.execute(
        f"update raw.pos_order_lines set unit_price = unit_price * 3, discount_amount = 0 "
        f"where {window}"
    )
    # one repeat order a day later per identified customer with an order in the window
    con.execute(
        f"""
        insert into raw.pos_order_lines
        select * replace (
            order_id || '-again' as order_id, ordered_at + interval 1 day as ordered_at
        )
        from raw.pos_order_lines
        where order_id in (
            select order_id from raw.pos_order_lines
            where {window} and customer_id is not null and quantity > 0
            qualify row_number() over (partition by customer_id order by ordered_at) = 1
        )
        """
    )
    session_starts = f"""
        select user_pseudo_id, session_id from raw.web_events
        group by all
        having min(event_timestamp) >= timestamp '{since}'
            and max(event_timestamp) < timestamp '{until}'
    """
    con.execute(
        f"""
        update raw.web_events set event_name = 'view_item'
        where event_name = 'page_view'
            and (user_pseudo_id, session_id) in ({session_starts})
        """
    )
    con.execute(
        f"""
        insert into raw.web_events
        select * replace (
            session_id || '-again' as session_id,
            event_timestamp + interval 2 day as event_timestamp,
            null as transaction_id
        )
        from raw.web_events
        where event_name <> 'purchase' and (user_pseudo_id, session_id) in ({session_starts})
        """
    )


def move_first_order_to_midnight(con: duckdb.DuckDBPyConnection, day: date) -> str:
    """The first identified order after `day` now happens at exactly 00:00:00 of `day`."""
    order_id = con.execute(
        "select order_id from raw.pos_order_lines "
        "where ordered_at >= ? and customer_id is not null and quantity > 0 "
        "order by ordered_at, order_id limit 1",
        [day + timedelta(days=1)],
    ).fetchone()[0]
    con.execute("update raw.pos_order_lines set ordered_at = ? where order_id = ?", [day, order_id])
    return order_id


def features(warehouse: Path, where: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            f"select * from marts.customer_features where {where} order by as_of_date, customer_key"
        ).pl()


def changed_columns(before: pl.DataFrame, after: pl.DataFrame) -> dict[str, int]:
    """Rows per column whose value differs (floats beyond 1e-9 relative), same keys required."""
    assert before.select(KEYS).equals(after.select(KEYS)), "the two builds have different rows"
    changed = {}
    for column in before.columns:
        a, b = before[column], after[column]
        if a.dtype.is_float():
            differs = ((a - b).abs() > 1e-9 * (1 + a.abs())) | (a.is_null() != b.is_null())
        else:
            differs = a.ne_missing(b)
        if differs.sum():
            changed[column] = int(differs.sum())
    return changed


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from pipelines.sample_data import generate

    root = tmp_path_factory.mktemp("point_in_time")
    generate(root / "data", customers=300, days=DAYS, end_date=END, seed=11)
    original = root / "original.duckdb"
    load_sample(root / "data", original)
    warehouses = {name: root / f"{name}.duckdb" for name in ("original", "future", "past")}
    for name in ("future", "past"):
        shutil.copy(original, warehouses[name])
    with duckdb.connect(str(warehouses["future"])) as con:
        move_first_order_to_midnight(con, AS_OF)
        change_orders_and_web(con, AS_OF, END + timedelta(days=10))
    with duckdb.connect(str(warehouses["past"])) as con:
        change_orders_and_web(con, AS_OF - timedelta(days=28), AS_OF)
    # The history reaches feature_history_days back from the latest day, so all three builds
    # get the same latest day (the copies after END would otherwise move it and the window).
    pinned = json.dumps({"features_as_of_date": LATEST.isoformat()})
    for name, warehouse in warehouses.items():
        build_marts(warehouse, root / name, "--vars", pinned)
    return warehouses


def test_changing_orders_and_visits_from_the_as_of_date_on_changes_no_feature_row(
    builds: dict[str, Path],
) -> None:
    on_or_before = f"as_of_date <= date '{AS_OF}'"
    original = features(builds["original"], on_or_before)
    future = features(builds["future"], on_or_before)

    assert original["as_of_date"].n_unique() >= 10 and original["as_of_date"].max() == AS_OF
    assert_frame_equal(original, future)
    # the change reached the features after the as-of date, so it was seen by dbt
    later = changed_columns(
        features(builds["original"], f"as_of_date > date '{AS_OF}'"),
        features(builds["future"], f"as_of_date > date '{AS_OF}'"),
    )
    assert {"monetary", "frequency", "page_views_30d", "web_sessions_30d"} <= set(later)


def test_the_same_change_before_the_as_of_date_is_seen(builds: dict[str, Path]) -> None:
    on_or_before = f"as_of_date <= date '{AS_OF}'"
    original = features(builds["original"], on_or_before)
    past = features(builds["past"], on_or_before)

    changed = changed_columns(original, past)

    churn_features = feature_columns(original, DEFAULTS["churn"]["exclude_features"])
    assert len(churn_features) >= 20 and set(churn_features) <= set(original.columns)
    assert {"monetary", "frequency", "recency_days", "page_views_30d", "web_sessions_30d"} <= set(
        changed
    )
    assert set(changed) <= set(original.columns)
    print(f"\nbefore {AS_OF}: rows changed per column {changed}")
