"""A daily run sums the features of its snapshots straight from the events. Of the tickets and
emails it reads only those their longest window (365 and 90 days) can still hold: the older ones
count in none of their features. It ranks the categories by the totals that hold on each
snapshot. What it gets must be what the stream of changes (a backfill's way) gets from every
event, at each snapshot the run built.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.transform.dbt_runner import rebuild_features_through_the_stream, run_dbt
from tests.transform.raw_tables import email_event, espresso_line, load_day, support_ticket

BUILD_FEATURES = ["run", "--select", "+customer_features"]
WINDOWED = ("email_opens_90d", "email_clicks_90d", "support_tickets_365d", "avg_satisfaction")
TOP_CATEGORY = ("top_category", "top_category_share")
DANA = "dana@example.com"


def features_built(warehouse: Path, columns: tuple[str, ...]) -> dict[date, tuple[object, ...]]:
    """Dana's `columns` at each snapshot the daily run built."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            f"select as_of_date, {', '.join(columns)} from marts.customer_features "
            "where as_of_date >= date '2025-03-10'"
        ).fetchall()
    by_date = {row[0]: row[1:] for row in rows}
    assert len(by_date) == len(rows), "Dana is not the only customer: the fixture went wrong"
    return by_date


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Dana's history, loaded the Saturday before, then Monday's daily run: it builds the
    Monday snapshot 2025-03-10 and the latest day 2025-03-11."""
    work = tmp_path_factory.mktemp("windows")
    warehouse = work / "warehouse.duckdb"
    load_day(
        warehouse,
        "2025-03-08",
        crm_contacts=[{"contact_id": "C1", "email": DANA, "created_at": "2024-01-02 09:00:00"}],
        crm_email_events=[
            email_event(DANA, "open", "2024-01-02 09:00:00"),  # left every window long ago
            email_event(DANA, "open", "2024-12-01 09:00:00"),  # left the 90 days of both snapshots
            email_event(DANA, "open", "2024-12-10 12:00:00"),  # in the 90 days of 03-10 only
            email_event(DANA, "open", "2025-01-15 09:00:00"),
            email_event(DANA, "click", "2025-03-01 09:00:00"),
        ],
        crm_tickets=[
            # older than 365 days
            support_ticket("T1", "2024-01-05 10:00:00", satisfaction_score=1, status="closed"),
            support_ticket("T2", "2024-06-01 10:00:00", satisfaction_score=5, status="closed"),
            support_ticket("T3", "2025-03-02 10:00:00", satisfaction_score=4, status="closed"),
        ],
        pos_order_lines=[
            espresso_line("O1", "2025-03-08 10:00:00", email=DANA),
        ],
    )
    run_dbt(warehouse, work / "first", BUILD_FEATURES)
    load_day(
        warehouse,
        "2025-03-10",
        crm_email_events=[email_event(DANA, "open", "2025-03-10 08:00:00")],
        pos_order_lines=[
            # her coffee total goes from 3.50 to 7.00, and she buys a 5.00 pastry
            espresso_line("O2", "2025-03-10 10:00:00", email=DANA),
            espresso_line(
                "O3",
                "2025-03-10 11:00:00",
                email=DANA,
                sku="croissant",
                category_code="pastry",
                unit_price=5.0,
            ),
        ],
    )
    run_dbt(warehouse, work / "daily", BUILD_FEATURES)
    compiled = next((work / "daily" / "target" / "compiled").rglob("customer_features.sql"))
    return warehouse, compiled.read_text()


def test_the_daily_run_reads_only_the_tickets_and_emails_their_windows_hold(
    daily: tuple[Path, str],
) -> None:
    warehouse, compiled = daily
    assert "occurred_at + interval 90 day" in compiled, "the emails were not cut to 90 days"
    assert "created_at + interval 365 day" in compiled, "the tickets were not cut to 365 days"
    assert features_built(warehouse, WINDOWED) == {
        # opens from 2024-12-10 on, the click; tickets T2 and T3 (satisfaction 5 and 4)
        date(2025, 3, 10): (2, 1, 2, 4.5),
        # the open of 2024-12-10 has left the 90 days; the one of 2025-03-10 morning came in
        date(2025, 3, 11): (2, 1, 2, 4.5),
    }


def test_the_top_category_ranks_each_category_total_as_it_stands_on_the_snapshot(
    daily: tuple[Path, str],
) -> None:
    warehouse, _ = daily
    assert features_built(warehouse, TOP_CATEGORY) == {
        date(2025, 3, 10): ("coffee", 1.0),
        # coffee 7.00 of 12.00: the 3.50 it stood at before 2025-03-10 no longer holds
        date(2025, 3, 11): ("coffee", pytest.approx(7 / 12)),
    }


def test_the_daily_run_gets_what_the_stream_of_every_event_gets(
    daily: tuple[Path, str], tmp_path: Path
) -> None:
    warehouse, _ = daily
    streamed = rebuild_features_through_the_stream(warehouse, tmp_path, "2025-03-10")
    columns = WINDOWED + TOP_CATEGORY
    assert features_built(streamed, columns) == features_built(warehouse, columns)
