"""Each vendor preset loads its vendor's export; a new export needs only a YAML mapping."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from tests.ingest.conftest import FIXTURES, Landing, load

DAY = "2025-03-04"


@pytest.fixture
def use_mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def select(**mappings: str) -> None:
        config = tmp_path / "sources.yaml"
        config.write_text("mappings:\n" + "".join(f"  {s}: {m}\n" for s, m in mappings.items()))
        monkeypatch.setenv("INGEST_SOURCES_CONFIG", str(config))

    return select


def land_fixture(landing: Landing, source: str, name: str) -> None:
    folder = landing.incoming / source / DAY
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / name, folder / name)


def test_shopify_orders_export(con, landing: Landing, use_mappings) -> None:
    use_mappings(pos="shopify_orders")
    land_fixture(landing, "pos", "orders_export_1.csv")

    report = load(con, landing, "pos", DAY)

    assert (report.rows_read, report.rows_loaded) == (3, 3)
    rows = con.sql(
        "select order_id, line_number, ordered_at, channel, email, sku, category_code, "
        "quantity, unit_price, discount_amount from raw.pos_order_lines order by order_id, line_number"
    ).fetchall()
    assert rows == [
        ("#1001", 1, datetime(2025, 3, 4, 8, 15, 2), "online", "ana@example.com",
         "beans-espresso-250", "beans", 1, 12.5, 2.5),
        ("#1001", 2, datetime(2025, 3, 4, 8, 15, 2), "online", "ana@example.com",
         "merch-mug-white", "merch", 2, 9.25, None),
        ("#1002", 1, datetime(2025, 3, 4, 17, 40), "online", "guest@example.org",
         "gift_card-18", "gift_card", 1, 18.0, 0.0),
    ]  # fmt: skip
    phones = con.sql("select phone from raw.pos_order_lines order by order_id").fetchall()
    assert phones == [("+34 600 111 222",), (None,), ("+34 600 333 444",)]


def test_square_item_details_export(con, landing: Landing, use_mappings) -> None:
    use_mappings(pos="square_items")
    land_fixture(landing, "pos", "items-2025-03-04-2025-03-05.csv")

    report = load(con, landing, "pos", DAY)

    assert (report.rows_read, report.rows_loaded) == (3, 3)
    rows = con.sql(
        "select order_id, line_number, ordered_at, channel, store_id, customer_id, category_code, "
        "quantity, unit_price, discount_amount from raw.pos_order_lines order by order_id, line_number"
    ).fetchall()
    assert rows == [
        ("tx-8812", 1, datetime(2025, 3, 4, 8, 2, 11), "in_store", "Gran Via", "C0001",
         "coffee", 2, 3.5, 0.7),
        ("tx-8812", 2, datetime(2025, 3, 4, 8, 2, 11), "in_store", "Gran Via", "C0001",
         "pastry", 1, 2.8, 0.0),
        ("tx-8813", 1, datetime(2025, 3, 4, 12, 30, 45), "in_store", "Gran Via", None,
         "tea", 1, 1003.5, 0.0),
    ]  # fmt: skip


def test_hubspot_contacts_export(con, landing: Landing, use_mappings) -> None:
    use_mappings(crm="hubspot_contacts")
    land_fixture(landing, "crm", "hubspot-crm-exports-all-contacts-2025-03-04.csv")

    report = load(con, landing, "crm", DAY)

    assert (report.rows_read, report.rows_loaded) == (2, 2)
    rows = con.sql(
        "select contact_id, email, phone, first_name, city, country, marketing_consent, "
        "created_at, updated_at from raw.crm_contacts order by contact_id"
    ).fetchall()
    assert rows == [
        ("101", "ana@example.com", "+34 600 111 222", "Ana", "Madrid", "Spain", True,
         datetime(2024, 11, 2, 10, 15), datetime(2025, 3, 4, 9, 20)),
        ("102", "BEN@example.com", None, "Ben", "Seville", "Spain", False,
         datetime(2025, 1, 10, 16, 2), datetime(2025, 3, 4, 11, 45)),
    ]  # fmt: skip


def test_ga4_bigquery_export_flattens_event_params(con, landing: Landing, use_mappings) -> None:
    use_mappings(web="ga4_bigquery_events")
    land_fixture(landing, "web", "events_20250304.ndjson")

    report = load(con, landing, "web", DAY)

    assert (report.rows_read, report.rows_loaded) == (3, 3)
    rows = con.sql(
        "select event_timestamp, event_name, user_pseudo_id, user_id, session_id, page_location, "
        "sku, category_code, transaction_id, value, device_category "
        "from raw.web_events order by event_timestamp"
    ).fetchall()
    assert rows == [
        (datetime(2025, 3, 4, 9, 0, 0, 123456), "page_view", "1234.5678", None, "1741078790",
         "https://shop.example.com/beans", None, None, None, None, "mobile"),
        (datetime(2025, 3, 4, 9, 1, 0, 1), "view_item", "1234.5678", "C0001", "1741078790",
         "https://shop.example.com/beans/espresso", "beans-espresso-250", "beans", None, None,
         "mobile"),
        (datetime(2025, 3, 4, 9, 3, 20), "purchase", "1234.5678", "C0001", "1741078790", None,
         "beans-espresso-250", "beans", "#1001", 12.5, "mobile"),
    ]  # fmt: skip


def test_canonical_contacts_accept_phone_number_alias(con, landing: Landing) -> None:
    landing.write(
        "crm",
        DAY,
        "contacts.csv",
        "contact_id,phone_number,created_at,updated_at\nC1,+44 20 7946 0000,2025-01-02,2025-03-04\n",
    )

    load(con, landing, "crm", DAY)

    assert con.sql("select phone from raw.crm_contacts").fetchall() == [("+44 20 7946 0000",)]


def test_canonical_parquet_file_loads(con, landing: Landing) -> None:
    import polars as pl

    folder = landing.incoming / "pos" / DAY
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "order_id": ["O1"],
            "line_number": [1],
            "ordered_at": [datetime(2025, 3, 4, 9, 0)],
            "channel": ["online"],
            "sku": ["tea-1"],
            "category_code": ["tea"],
            "quantity": [3],
            "unit_price": [4.25],
        }
    ).write_parquet(folder / "order_lines.parquet")

    report = load(con, landing, "pos", DAY)

    assert report.rows_loaded == 1
    assert con.sql(
        "select ordered_at, quantity, unit_price, discount_amount from raw.pos_order_lines"
    ).fetchall() == [(datetime(2025, 3, 4, 9, 0), 3, 4.25, None)]


FOREIGN_MAPPING = """\
# A till that exports semicolon-separated Latin-1 files with amounts in cents.
source: pos
entities:
  order_lines:
    files: "kassenbons*"
    csv: {delimiter: ";", encoding: latin-1}
    columns:
      order_id: BonNr
      line_number: Pos
      ordered_at: {from: Zeitpunkt, format: "%d.%m.%Y %H:%M"}
      channel: {value: in_store}
      store_id: Filiale
      loyalty_id: {from: Kundenkarte}
      sku: Artikel
      category_code: {from: Warengruppe, map: {Kaffee: coffee, Gebäck: pastry}}
      quantity: Menge
      unit_price: {from: PreisCent, scale: 0.01}
      discount_amount: {from: RabattCent, scale: 0.01, default: "0"}
"""


def test_foreign_export_loads_through_a_new_yaml_mapping_only(
    con, landing: Landing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kasse.yaml").write_text(FOREIGN_MAPPING, encoding="utf-8")
    (tmp_path / "sources.yaml").write_text("mappings:\n  pos: kasse.yaml\n")
    monkeypatch.setenv("INGEST_SOURCES_CONFIG", str(tmp_path / "sources.yaml"))
    export = (
        "BonNr;Pos;Zeitpunkt;Filiale;Kundenkarte;Artikel;Warengruppe;Menge;PreisCent;RabattCent\n"
        "B-77;1;04.03.2025 07:45;Köln;L-991;Milchkaffee;Kaffee;2;380;\n"
        "B-77;2;04.03.2025 07:45;Köln;L-991;Brezel;Gebäck;1;150;20\n"
    )
    landing.write("pos", DAY, "kassenbons_0304.csv", export.encode("latin-1"))

    report = load(con, landing, "pos", DAY)

    assert report.entities["order_lines"].mapping == "kasse"
    assert (report.rows_read, report.rows_loaded) == (2, 2)
    rows = con.sql(
        "select order_id, line_number, ordered_at, store_id, loyalty_id, category_code, quantity, "
        "unit_price, discount_amount from raw.pos_order_lines order by line_number"
    ).fetchall()
    assert rows == [
        ("B-77", 1, datetime(2025, 3, 4, 7, 45), "Köln", "L-991", "coffee", 2, 3.8, 0.0),
        ("B-77", 2, datetime(2025, 3, 4, 7, 45), "Köln", "L-991", "pastry", 1, 1.5, 0.2),
    ]


def test_ga4_export_as_parquet_reads_the_same_paths(con, landing: Landing, use_mappings) -> None:
    import json

    import polars as pl

    use_mappings(web="ga4_bigquery_events")
    events = [json.loads(line) for line in (FIXTURES / "events_20250304.ndjson").open()]
    for event in events:
        event["event_timestamp"] = int(event["event_timestamp"])  # INT64 in BigQuery's Parquet
        event.setdefault("ecommerce", None)
    folder = landing.incoming / "web" / DAY
    folder.mkdir(parents=True)
    pl.DataFrame(events).write_parquet(folder / "events_20250304.parquet")

    report = load(con, landing, "web", DAY)

    assert report.rows_loaded == 3
    assert con.sql(
        "select session_id, sku, transaction_id, value from raw.web_events order by event_timestamp"
    ).fetchall() == [
        ("1741078790", None, None, None),
        ("1741078790", "beans-espresso-250", None, None),
        ("1741078790", "beans-espresso-250", "#1001", 12.5),
    ]
