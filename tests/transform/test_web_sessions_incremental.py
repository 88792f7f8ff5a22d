"""Web events arrive in daily drops: a session that crosses midnight arrives in two of them and
the daily run aggregates it whole; an event sent again in a later drop stays one event.

The daily build of int_web_sessions_aggregated reads only the events at or after the earliest
new event or the stored start of a session that got new events (a constant DuckDB prunes by), so
the evening half of a session continued after midnight must still be counted.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb

from tests.transform.dbt_runner import run_dbt
from tests.transform.raw_tables import load_day

SESSIONS = "intermediate.int_web_sessions_aggregated"
BUILD_SESSIONS = ["run", "--select", f"+{SESSIONS.split('.')[1]}"]


def page_view(session_id: str, at: str) -> dict[str, object]:
    return {
        "event_timestamp": at,
        "event_name": "page_view",
        "user_pseudo_id": "K1",
        "session_id": session_id,
    }


def sessions(warehouse: Path) -> dict[str, tuple[object, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.sql(
            f"select session_id, page_views, started_at, ended_at from {SESSIONS}"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_a_session_across_two_drops_is_aggregated_whole(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    load_day(
        warehouse,
        "2025-03-03",
        web_events=[
            page_view("morning", "2025-03-03 09:00:00"),
            page_view("late", "2025-03-03 23:50:00"),
        ],
    )
    run_dbt(warehouse, tmp_path / "first", BUILD_SESSIONS)

    load_day(
        warehouse,
        "2025-03-04",
        web_events=[
            page_view("late", "2025-03-04 00:10:00"),
            page_view("next", "2025-03-04 10:00:00"),
        ],
    )
    run_dbt(warehouse, tmp_path / "daily", BUILD_SESSIONS)

    daily = sessions(warehouse)
    assert daily == {
        "morning": (1, datetime(2025, 3, 3, 9), datetime(2025, 3, 3, 9)),
        "late": (2, datetime(2025, 3, 3, 23, 50), datetime(2025, 3, 4, 0, 10)),
        "next": (1, datetime(2025, 3, 4, 10), datetime(2025, 3, 4, 10)),
    }
    rebuilt = tmp_path / "rebuilt.duckdb"
    shutil.copy(warehouse, rebuilt)
    run_dbt(rebuilt, tmp_path / "rebuild", [*BUILD_SESSIONS, "--full-refresh"])
    assert sessions(rebuilt) == daily

    # a run with nothing new writes nothing and keeps every session
    run_dbt(warehouse, tmp_path / "nothing_new", BUILD_SESSIONS)
    assert sessions(warehouse) == daily


def test_an_event_sent_again_in_a_later_drop_is_one_event_the_newest_loads(
    tmp_path: Path,
) -> None:
    """The web export sends a day's event again the next day, with its device corrected: the
    store keeps one row for it, the newer one, and the session counts it once."""
    warehouse = tmp_path / "warehouse.duckdb"
    first = {**page_view("evening", "2025-03-03 21:00:00"), "device_category": "Desktop"}
    load_day(warehouse, "2025-03-03", web_events=[first])
    run_dbt(warehouse, tmp_path / "first", BUILD_SESSIONS)

    corrected = {**first, "device_category": "Mobile"}
    load_day(
        warehouse,
        "2025-03-04",
        web_events=[corrected, page_view("evening", "2025-03-04 00:05:00")],
    )
    run_dbt(warehouse, tmp_path / "daily", BUILD_SESSIONS)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.sql(
            "select event_timestamp, device_category, _loaded_at "
            "from intermediate.int_web_events_deduplicated order by event_timestamp"
        ).fetchall()
    assert stored == [
        (datetime(2025, 3, 3, 21), "mobile", datetime(2025, 3, 5, 2)),
        (datetime(2025, 3, 4, 0, 5), None, datetime(2025, 3, 5, 2)),
    ]
    assert sessions(warehouse)["evening"] == (
        2,
        datetime(2025, 3, 3, 21),
        datetime(2025, 3, 4, 0, 5),
    )
