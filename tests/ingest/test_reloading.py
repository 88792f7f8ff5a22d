"""Re-loading days replaces exactly those days; absent sources and days are not errors."""

from __future__ import annotations

from datetime import date

import duckdb

from pipelines.ingest.loader import load_days
from pipelines.ingest.schema import ENTITIES
from tests.ingest.conftest import Landing, count, load

CONTACT = "C{n},c{n}@example.com,,Ana,Ruiz,true,2025-01-02T10:00:00,{day}T09:00:00"
LINE = "O{n},1,{day}T09:00:00,in_store,S1,C1,,,,beans-1,beans,1,12.50,0"


def land_three_days(landing: Landing) -> None:
    for n, day in enumerate(["2025-03-03", "2025-03-04", "2025-03-05"], start=1):
        landing.contacts(day, CONTACT.format(n=n, day=day), "broken,row")
        landing.order_lines(day, LINE.format(n=n, day=day), LINE.format(n=n, day=day))
    landing.write(
        "web",
        "2025-03-04",
        "events.ndjson",
        '{"event_timestamp": "2025-03-04T10:00:00", "event_name": "page_view", '
        '"user_pseudo_id": "u1", "session_id": "s1"}\nnot json\n',
    )


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every raw table's rows, without the load time."""
    tables = [f"raw.{e.table}" for e in ENTITIES.values()]
    result = {}
    for table in tables:
        result[table] = con.sql(
            f"select * exclude (_loaded_at) from {table} order by all"
        ).fetchall()
    result["raw.quarantine"] = con.sql(
        "select * exclude (loaded_at) from raw.quarantine order by all"
    ).fetchall()
    return result


def load_all(con, landing: Landing, *days: str) -> None:
    for source in ("crm", "pos", "web"):
        load(con, landing, source, *days)


def test_reloading_a_day_leaves_every_table_identical(con, landing: Landing) -> None:
    land_three_days(landing)
    load_all(con, landing, "2025-03-03", "2025-03-04", "2025-03-05")
    before = snapshot(con)

    load_all(con, landing, "2025-03-04")
    load_all(con, landing, "2025-03-03", "2025-03-04", "2025-03-05")

    assert snapshot(con) == before
    assert count(con, "raw.pos_order_lines") == 3
    assert (
        count(con, "raw.quarantine") == 3 + 3 + 1
    )  # malformed contacts, duplicate lines, bad json


def test_loading_day_by_day_equals_loading_the_range(con, landing: Landing, tmp_path) -> None:
    land_three_days(landing)
    load_all(con, landing, "2025-03-03", "2025-03-04", "2025-03-05")
    with duckdb.connect(str(tmp_path / "day_by_day.duckdb")) as other:
        for day in ("2025-03-03", "2025-03-04", "2025-03-05"):
            load_all(other, landing, day)
        assert snapshot(other) == snapshot(con)


def test_reload_replaces_only_its_days(con, landing: Landing) -> None:
    land_three_days(landing)
    load_all(con, landing, "2025-03-03", "2025-03-04", "2025-03-05")
    # the shop re-exports 2025-03-04 with a corrected file
    (landing.incoming / "pos" / "2025-03-04" / "order_lines.csv").unlink()
    landing.order_lines("2025-03-04", LINE.format(n=9, day="2025-03-04"))

    load(con, landing, "pos", "2025-03-04")

    rows = con.sql(
        "select _partition_date::varchar, order_id from raw.pos_order_lines order by 1"
    ).fetchall()
    assert rows == [("2025-03-03", "O1"), ("2025-03-04", "O9"), ("2025-03-05", "O3")]
    assert (
        con.execute("select count(*) from raw.quarantine where entity = 'order_lines'").fetchone()[
            0
        ]
        == 2
    )


def test_missing_source_and_missing_day_load_zero_rows(con, landing: Landing) -> None:
    landing.contacts("2025-03-03", CONTACT.format(n=1, day="2025-03-03"))

    web = load(con, landing, "web", "2025-03-03", "2025-03-04")
    crm = load(con, landing, "crm", "2025-03-03", "2025-03-04")

    assert web.rows_read == 0 and web.entities["events"].files == []
    assert crm.rows_loaded == 1
    # every raw table exists, so downstream models can read a source that never landed
    assert count(con, "raw.web_events") == 0
    assert count(con, "raw.crm_email_events") == 0


def test_late_file_rows_keep_their_own_dates(con, landing: Landing) -> None:
    landing.contacts("2025-03-03", CONTACT.format(n=1, day="2025-03-03"))
    landing.order_lines(
        "2025-03-05", LINE.format(n=1, day="2025-03-03"), name="order_lines_late.csv"
    )

    load(con, landing, "crm", "2025-03-03")
    load(con, landing, "pos", "2025-03-05")

    row = con.execute(
        "select _partition_date::varchar, ordered_at::date::varchar, _source_file "
        "from raw.pos_order_lines"
    ).fetchone()
    assert row == ("2025-03-05", "2025-03-03", "pos/2025-03-05/order_lines_late.csv")


def test_original_files_are_never_changed(con, landing: Landing) -> None:
    land_three_days(landing)
    files = sorted(p for p in landing.incoming.rglob("*") if p.is_file())
    before = [(p, p.read_bytes(), p.stat().st_mtime_ns) for p in files]

    load_all(con, landing, "2025-03-03", "2025-03-04", "2025-03-05")

    assert sorted(p for p in landing.incoming.rglob("*") if p.is_file()) == files
    assert [(p, p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before


def test_a_range_read_in_chunks_of_one_day_loads_the_same_rows(
    con, landing: Landing, tmp_path
) -> None:
    land_three_days(landing)
    # the same line re-sent on the next day is a duplicate whichever chunk it falls in
    landing.order_lines(
        "2025-03-04", LINE.format(n=1, day="2025-03-03"), name="order_lines_resent.csv"
    )
    days = [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 5)]
    for source in ("crm", "pos", "web"):
        load_days(con, source, days, landing.incoming)
    with duckdb.connect(str(tmp_path / "chunked.duckdb")) as other:
        for source in ("crm", "pos", "web"):
            report = load_days(other, source, days, landing.incoming, chunk_bytes=1)
            assert report.rows_read == report.rows_loaded + report.rows_quarantined
        assert snapshot(other) == snapshot(con)
    reasons = con.sql(
        "select reason, count(*) from raw.quarantine where entity = 'order_lines' group by 1"
    ).fetchall()
    assert reasons == [("duplicate_row", 4)]


def test_empty_files_load_zero_rows(con, landing: Landing) -> None:
    landing.write("crm", "2025-03-03", "contacts.csv", "")
    landing.write("pos", "2025-03-03", "order_lines.csv.gz", "")
    landing.write("web", "2025-03-03", "events.ndjson", "\n")

    reports = [load(con, landing, source, "2025-03-03") for source in ("crm", "pos", "web")]

    assert [r.rows_read for r in reports] == [0, 0, 0]
    assert [
        len(r.entities[e].files)
        for r, e in zip(reports, ["contacts", "order_lines", "events"], strict=True)
    ] == [1, 1, 1]
