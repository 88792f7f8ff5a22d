"""Every kind of bad row is quarantined with its reason and a detail naming the column; none lost."""

from __future__ import annotations

import json

import pytest

from tests.ingest.conftest import Landing, count, load, quarantine

DAY = "2025-03-04"
GOOD_CONTACT = "C1,ana@example.com,600111222,Ana,Ruiz,true,2025-01-02T10:00:00,2025-03-04T09:00:00"


def order_line(**changes: str) -> str:
    values = {
        "order_id": "O1",
        "line_number": "1",
        "ordered_at": "2025-03-04T09:00:00",
        "channel": "in_store",
        "store_id": "S1",
        "customer_id": "C1",
        "loyalty_id": "",
        "email": "",
        "phone": "",
        "sku": "beans-espresso-250",
        "category_code": "beans",
        "quantity": "1",
        "unit_price": "12.50",
        "discount_amount": "0",
    }
    values.update(changes)
    return ",".join(values.values())


def load_orders(con, landing: Landing, *rows: str):
    landing.contacts(DAY, GOOD_CONTACT)
    load(con, landing, "crm", DAY)
    return load(con, landing, "pos", DAY)


@pytest.mark.parametrize(
    ("bad_line", "reason", "column", "value"),
    [
        (order_line(order_id=""), "missing_required", "order_id", None),
        (order_line(sku="  "), "missing_required", "sku", None),
        (
            order_line(ordered_at="2025-02-30 10:00:00"),
            "invalid_timestamp",
            "ordered_at",
            "2025-02-30 10:00:00",
        ),
        (order_line(ordered_at="yesterday"), "invalid_timestamp", "ordered_at", "yesterday"),
        (order_line(quantity="two"), "invalid_value", "quantity", "two"),
        (order_line(quantity="1.5"), "invalid_value", "quantity", "1.5"),
        (order_line(channel="drive_through"), "invalid_value", "channel", "drive_through"),
        (order_line(unit_price="-3.20"), "invalid_amount", "unit_price", "-3.20"),
        (order_line(unit_price="10000.01"), "invalid_amount", "unit_price", "10000.01"),
        (order_line(discount_amount="-0.50"), "invalid_amount", "discount_amount", "-0.50"),
        (order_line(category_code="shoes"), "unknown_category", "category_code", "shoes"),
        (order_line(customer_id="C404"), "unknown_customer", "customer_id", "C404"),
    ],
)
def test_bad_order_line_is_quarantined_with_its_reason(
    con, landing: Landing, bad_line: str, reason: str, column: str, value: str | None
) -> None:
    landing.order_lines(DAY, order_line(order_id="O0"), bad_line)

    report = load_orders(con, landing)

    assert (report.rows_read, report.rows_loaded) == (2, 1)
    assert report.entities["order_lines"].quarantined_by_reason == {reason: 1}
    [row] = quarantine(con)
    assert row["reason"] == reason
    assert f"'{column}'" in row["detail"]
    if value is not None:
        assert value in row["detail"]
    assert row["source_row"] == 2
    assert row["source_file"] == f"pos/{DAY}/order_lines.csv"
    assert json.loads(row["original_values"])[column].strip() == (value or "")
    assert count(con, "raw.pos_order_lines") == 1


def test_first_failing_check_is_the_reason(con, landing: Landing) -> None:
    # empty sku, unknown category and a negative price: missing_required comes first
    landing.order_lines(DAY, order_line(sku="", category_code="shoes", unit_price="-1"))

    load_orders(con, landing)

    assert [r["reason"] for r in quarantine(con)] == ["missing_required"]


def test_customer_loaded_in_the_same_range_is_known(con, landing: Landing) -> None:
    landing.contacts("2025-03-05", GOOD_CONTACT.replace("C1,", "C2,"))
    landing.order_lines("2025-03-05", order_line(customer_id="C2"))

    load(con, landing, "crm", DAY, "2025-03-05")
    report = load(con, landing, "pos", DAY, "2025-03-05")

    assert report.rows_loaded == 1 and report.rows_quarantined == 0


def test_duplicate_rows_keep_the_first_copy(con, landing: Landing) -> None:
    landing.order_lines(DAY, order_line(), order_line(), order_line(line_number="2"))
    landing.order_lines("2025-03-05", order_line(), order_line(order_id="O2"))
    landing.contacts(DAY, GOOD_CONTACT)
    load(con, landing, "crm", DAY)

    first = load(con, landing, "pos", DAY)
    second = load(con, landing, "pos", "2025-03-05")

    assert first.entities["order_lines"].quarantined_by_reason == {"duplicate_row": 1}
    assert second.entities["order_lines"].quarantined_by_reason == {"duplicate_row": 1}
    kept = con.sql(
        "select _partition_date::varchar, _source_row from raw.pos_order_lines "
        "where order_id = 'O1' and line_number = 1"
    ).fetchall()
    assert kept == [(DAY, 1)]
    assert [(r["source_file"], r["source_row"]) for r in quarantine(con)] == [
        (f"pos/{DAY}/order_lines.csv", 2),
        ("pos/2025-03-05/order_lines.csv", 1),
    ]


def test_contact_defects(con, landing: Landing) -> None:
    landing.contacts(
        DAY,
        GOOD_CONTACT,
        ",nobody@example.com,,No,Id,true,2025-01-02T10:00:00,2025-03-04T09:00:00",
        "C3,c@example.com,,Cy,Li,maybe,2025-01-02T10:00:00,2025-03-04T09:00:00",
        "C4,d@example.com,,Di,Po,false,2025-01-02T10:00:00,04/03/2025 09:00",
    )

    report = load(con, landing, "crm", DAY)

    assert report.entities["contacts"].quarantined_by_reason == {
        "missing_required": 1,
        "invalid_timestamp": 1,
        "invalid_value": 1,
    }
    details = {r["reason"]: r["detail"] for r in quarantine(con)}
    assert "'contact_id'" in details["missing_required"]
    assert (
        "'updated_at'" in details["invalid_timestamp"]
        and "04/03/2025" in details["invalid_timestamp"]
    )
    assert "'marketing_consent'" in details["invalid_value"] and "maybe" in details["invalid_value"]


def test_csv_lines_with_the_wrong_number_of_fields_are_malformed_rows(
    con, landing: Landing
) -> None:
    landing.contacts(
        DAY,
        GOOD_CONTACT,
        "C5,short@example.com,1",
        GOOD_CONTACT.replace("C1,", "C6,") + ",extra,fields",
        GOOD_CONTACT.replace("C1,", "C7,"),
    )

    report = load(con, landing, "crm", DAY)

    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (4, 2, 2)
    rows = quarantine(con)
    assert [(r["source_row"], r["reason"]) for r in rows] == [
        (2, "malformed_row"),
        (3, "malformed_row"),
    ]
    assert "expected 8 fields" in rows[0]["detail"] and "found 3" in rows[0]["detail"]
    assert json.loads(rows[1]["original_values"])["_extra_fields"] == ["extra", "fields"]
    loaded = con.sql("select contact_id, _source_row from raw.crm_contacts order by 2").fetchall()
    assert loaded == [("C1", 1), ("C7", 4)]


def test_unparsable_json_line_is_a_malformed_row(con, landing: Landing) -> None:
    event = (
        '{"event_timestamp": "2025-03-04T10:00:00", "event_name": "page_view", '
        '"user_pseudo_id": "u1", "session_id": "s1"}'
    )
    landing.write("web", DAY, "events.ndjson", f'{event}\n{{"event_name": "page_v\n[1, 2]\n')

    report = load(con, landing, "web", DAY)

    assert (report.rows_read, report.rows_loaded) == (3, 1)
    rows = quarantine(con)
    assert [r["reason"] for r in rows] == ["malformed_row", "malformed_row"]
    assert json.loads(rows[0]["original_values"]) == {"_line": '{"event_name": "page_v'}
    assert "not a JSON object" in rows[1]["detail"]


def test_web_event_with_unknown_category_is_quarantined(con, landing: Landing) -> None:
    landing.write(
        "web",
        DAY,
        "events.ndjson.gz",
        '{"event_timestamp": "2025-03-04T10:00:00", "event_name": "view_item", '
        '"user_pseudo_id": "u1", "session_id": "s1", "category_code": "shoes"}\n',
    )

    report = load(con, landing, "web", DAY)

    assert report.entities["events"].quarantined_by_reason == {"unknown_category": 1}
