"""The raw tables as the ingest stage creates them (contract columns plus lineage), for fixtures."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

LINEAGE = "_partition_date date, _source_file varchar, _source_row integer, _loaded_at timestamp"

RAW_TABLES: dict[str, str] = {
    "crm_contacts": (
        "contact_id varchar, email varchar, phone varchar, first_name varchar, last_name varchar, "
        "birth_date date, gender varchar, city varchar, postal_code varchar, country varchar, "
        "loyalty_id varchar, marketing_consent boolean, created_at timestamp, updated_at timestamp"
    ),
    "crm_tickets": (
        "ticket_id varchar, contact_id varchar, email varchar, created_at timestamp, "
        "category varchar, satisfaction_score integer, status varchar"
    ),
    "crm_email_events": (
        "email varchar, contact_id varchar, campaign_id varchar, event_type varchar, "
        "occurred_at timestamp"
    ),
    "pos_order_lines": (
        "order_id varchar, line_number integer, ordered_at timestamp, channel varchar, "
        "store_id varchar, customer_id varchar, loyalty_id varchar, email varchar, phone varchar, "
        "sku varchar, category_code varchar, quantity integer, unit_price double, "
        "discount_amount double"
    ),
    "web_events": (
        "event_timestamp timestamp, event_name varchar, user_pseudo_id varchar, user_id varchar, "
        "session_id varchar, page_location varchar, sku varchar, category_code varchar, "
        "transaction_id varchar, value double, device_category varchar"
    ),
}

CATEGORIES = [
    ("coffee", "Coffee drinks", "Coffee lovers"),
    ("tea", "Tea and infusions", "Tea drinkers"),
    ("pastry", "Pastries and cakes", "Pastry fans"),
    ("beans", "Coffee beans and ground coffee", "Home brewers"),
]


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every raw table, empty, as ingestion leaves them when a source is absent."""
    con.execute("create schema if not exists raw")
    for table, columns in RAW_TABLES.items():
        con.execute(f"create table if not exists raw.{table} ({columns}, {LINEAGE})")
    con.execute(
        "create table if not exists raw.product_categories "
        "(code varchar, name varchar, preference_segment varchar)"
    )
    if not con.execute("select count(*) from raw.product_categories").fetchone()[0]:
        con.executemany("insert into raw.product_categories values (?, ?, ?)", CATEGORIES)


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: list[dict[str, object]],
    *,
    partition_date: str,
    loaded_at: str,
) -> None:
    """Append rows (missing columns null) with lineage as the loader writes it."""
    columns = [c.split()[0] for c in RAW_TABLES[table].split(", ")]
    for number, row in enumerate(rows, start=1):
        unknown = set(row) - set(columns)
        if unknown:
            raise ValueError(f"raw.{table} has no column(s) {sorted(unknown)}")
        values = [row.get(c) for c in columns]
        values += [partition_date, f"{table}_{partition_date}.csv", number, loaded_at]
        placeholders = ", ".join("?" for _ in values)
        con.execute(f"insert into raw.{table} values ({placeholders})", values)


def load_day(warehouse: Path, day: str, **rows_by_table: list[dict[str, object]]) -> None:
    """One daily drop: rows for raw tables, partitioned on `day` and loaded at 02:00 the next day."""
    loaded_at = f"{date.fromisoformat(day) + timedelta(days=1)} 02:00:00"
    with duckdb.connect(str(warehouse)) as con:
        create_raw_tables(con)
        for table, rows in rows_by_table.items():
            insert_rows(con, table, rows, partition_date=day, loaded_at=loaded_at)


def espresso_line(order_id: str, ordered_at: str, **who: object) -> dict[str, object]:
    """A one-line order of one espresso, identified by `who` (email, loyalty_id, ...): in store
    when a loyalty card is scanned, else online."""
    return {
        "order_id": order_id,
        "line_number": 1,
        "ordered_at": ordered_at,
        "channel": "in_store" if "loyalty_id" in who else "online",
        "sku": "espresso",
        "category_code": "coffee",
        "quantity": 1,
        "unit_price": 3.5,
        **who,
    }


def email_event(
    email: str, event_type: str, occurred_at: str, contact_id: str | None = "C1"
) -> dict[str, object]:
    """One event of the spring campaign, sent to `email` (of `contact_id`; None: no contact)."""
    return {
        "email": email,
        "contact_id": contact_id,
        "campaign_id": "spring",
        "event_type": event_type,
        "occurred_at": occurred_at,
    }


def support_ticket(
    ticket_id: str, created_at: str, contact_id: str | None = "C1", **fields: object
) -> dict[str, object]:
    """A ticket opened at `created_at` by `contact_id` (None: no contact), with `fields` (email,
    status, satisfaction_score, ...)."""
    return {"ticket_id": ticket_id, "contact_id": contact_id, "created_at": created_at, **fields}
