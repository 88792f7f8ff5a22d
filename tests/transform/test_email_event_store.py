"""Email events are deduplicated once, as they arrive: a re-export is one event, first load kept.

The staging view used to deduplicate (and hash) the whole email history on every run; the
incremental int_email_events_deduplicated now does it for the rows each run loads.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.transform.build_args import dbt_build_args
from tests.transform.dbt_runner import run_dbt
from tests.transform.raw_tables import create_raw_tables, email_event, insert_rows

STORE = "intermediate.int_email_events_deduplicated"


def test_a_re_exported_email_event_is_stored_once_with_its_first_load(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    opened = email_event("dana@example.com", "open", "2025-03-03 08:00:00")
    with duckdb.connect(str(warehouse)) as con:
        create_raw_tables(con)
        # the first export holds the open twice (the same event) and a click
        insert_rows(
            con,
            "crm_email_events",
            [opened, opened, email_event("dana@example.com", "click", "2025-03-03 08:01:00")],
            partition_date="2025-03-03",
            loaded_at="2025-03-04 02:00:00",
        )
    run_dbt(warehouse, tmp_path, dbt_build_args())
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(f"select count(*) from {STORE}").fetchall()[0][0] == 2

    with duckdb.connect(str(warehouse)) as con:
        # the next day's export repeats the open (address in other case and spacing) and adds one
        insert_rows(
            con,
            "crm_email_events",
            [
                email_event(" Dana@Example.com ", "OPEN", "2025-03-03 08:00:00"),
                email_event("dana@example.com", "open", "2025-03-05 19:30:00"),
            ],
            partition_date="2025-03-05",
            loaded_at="2025-03-06 02:00:00",
        )
    second = run_dbt(warehouse, tmp_path, dbt_build_args())

    assert not [r["unique_id"] for r in second["results"] if r["status"] not in {"success", "pass"}]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute(
            f"select event_type, occurred_at::varchar, _loaded_at::varchar from {STORE} "
            "order by occurred_at"
        ).fetchall()
        resolved = con.execute(
            "select count(*) from intermediate.int_email_events_resolved"
        ).fetchall()[0][0]
    assert stored == [
        ("open", "2025-03-03 08:00:00", "2025-03-04 02:00:00"),  # the first load of the open
        ("click", "2025-03-03 08:01:00", "2025-03-04 02:00:00"),
        ("open", "2025-03-05 19:30:00", "2025-03-06 02:00:00"),
    ]
    assert resolved == 3, "five raw rows are three email events"
