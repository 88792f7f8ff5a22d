"""A tiny café written by hand: two loads of raw rows whose features are worked out in the tests.

People:
- Alice: CRM contact C1 (loyalty L1) and a duplicate contact C3 with the same email written
  differently and her phone in national format; browser cookie K1 (logged in).
- Bob: contact C2 (loyalty L2); a guest checkout with his email (order O4) bought on cookie K2.
- Carol, Dan, Erin (C4, C5, C6): all three gave the shop's generic info@ address, and all three
  logged in on the shop's tablet (cookie K3): both must be excluded from merging.
- Sam (C7) works at the till and lends his staff card L9 to customers: it is on six orders of
  strangers on 2025-03-04, which must not become Sam's.
Order O3 is anonymous. There is no email-events source at all.

Load 1 arrives 2025-03-09 with everything up to 2025-03-08; load 2 arrives 2025-03-11 with
Bob's guest order at 23:59:59 on 2025-03-09, a re-sent copy of an O2 line, and Bob's in-store
order at exactly midnight of 2025-03-10 (the as-of boundary).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.transform.raw_tables import create_raw_tables, insert_rows

FIRST_LOAD = {"partition_date": "2025-03-08", "loaded_at": "2025-03-09 02:00:00"}
SECOND_LOAD = {"partition_date": "2025-03-10", "loaded_at": "2025-03-11 02:00:00"}

CONTACTS = [
    {
        "contact_id": "C1",
        "email": "Alice@Example.com",
        "phone": "+44 7700 900001",
        "first_name": "Alice",
        "birth_date": "1990-04-02",
        "gender": "F",
        "city": "Leeds",
        "country": "gb",
        "loyalty_id": "L1",
        "marketing_consent": True,
        "created_at": "2025-01-05 09:00:00",
        "updated_at": "2025-01-05 09:00:00",
    },
    {
        "contact_id": "C2",
        "email": "bob@example.com",
        "first_name": "Bob",
        "gender": "male",
        "loyalty_id": "L2",
        "marketing_consent": False,
        "created_at": "2025-01-10 12:00:00",
        "updated_at": "2025-01-10 12:00:00",
    },
    {
        "contact_id": "C3",
        "email": " alice@example.COM ",
        "phone": "07700 900001",
        "first_name": "Alice",
        "marketing_consent": True,
        "created_at": "2025-02-01 08:00:00",
        "updated_at": "2025-02-01 08:00:00",
    },
    {
        "contact_id": "C4",
        "email": "info@cafe.example",
        "first_name": "Carol",
        "created_at": "2025-02-10 10:00:00",
        "updated_at": "2025-02-10 10:00:00",
    },
    {
        "contact_id": "C5",
        "email": "INFO@cafe.example",
        "first_name": "Dan",
        "created_at": "2025-02-11 10:00:00",
        "updated_at": "2025-02-11 10:00:00",
    },
    {
        "contact_id": "C6",
        "email": "info@cafe.example",
        "first_name": "Erin",
        "created_at": "2025-02-12 10:00:00",
        "updated_at": "2025-02-12 10:00:00",
    },
]

STAFF_CONTACT = {
    "contact_id": "C7",
    "first_name": "Sam",
    "loyalty_id": "L9",
    "created_at": "2025-01-02 08:00:00",
    "updated_at": "2025-01-02 08:00:00",
}

STAFF_CARD_ORDER_LINES = [
    {
        "order_id": f"S{n}",
        "line_number": 1,
        "ordered_at": f"2025-03-04 {8 + n:02d}:00:00",
        "channel": "in_store",
        "store_id": "S1",
        "loyalty_id": "L9",
        "sku": "espresso",
        "category_code": "coffee",
        "quantity": 1,
        "unit_price": 3.5,
    }
    for n in range(6)
]

FIRST_ORDER_LINES = [
    # Alice in store with her loyalty card: coffee 2 x 3.50, pastry 4.00 with 1.00 off
    {
        "order_id": "O1",
        "line_number": 1,
        "ordered_at": "2025-03-01 10:00:00",
        "channel": "in_store",
        "store_id": "S1",
        "loyalty_id": "L1",
        "sku": "espresso",
        "category_code": "coffee",
        "quantity": 2,
        "unit_price": 3.5,
    },
    {
        "order_id": "O1",
        "line_number": 2,
        "ordered_at": "2025-03-01 10:00:00",
        "channel": "in_store",
        "store_id": "S1",
        "loyalty_id": "L1",
        "sku": "croissant",
        "category_code": "pastry",
        "quantity": 1,
        "unit_price": 4.0,
        "discount_amount": 1.0,
    },
    # Alice online, logged in: beans 12.00
    {
        "order_id": "O2",
        "line_number": 1,
        "ordered_at": "2025-03-05 18:00:00",
        "channel": "online",
        "customer_id": "C1",
        "sku": "house-blend",
        "category_code": "beans",
        "quantity": 1,
        "unit_price": 12.0,
    },
    # anonymous in store
    {
        "order_id": "O3",
        "line_number": 1,
        "ordered_at": "2025-03-05 08:00:00",
        "channel": "in_store",
        "store_id": "S1",
        "sku": "tea",
        "category_code": "tea",
        "quantity": 1,
        "unit_price": 3.0,
    },
    # Alice returns the beans
    {
        "order_id": "O5",
        "line_number": 1,
        "ordered_at": "2025-03-06 11:00:00",
        "channel": "online",
        "customer_id": "C1",
        "sku": "house-blend",
        "category_code": "beans",
        "quantity": -1,
        "unit_price": 12.0,
    },
]

SECOND_ORDER_LINES = [
    # Bob's guest checkout, one second before the 2025-03-10 boundary: tea 2 x 5.00
    {
        "order_id": "O4",
        "line_number": 1,
        "ordered_at": "2025-03-09 23:59:59",
        "channel": "online",
        "email": "Bob@Example.com",
        "sku": "sencha",
        "category_code": "tea",
        "quantity": 2,
        "unit_price": 5.0,
    },
    # the O2 line sent again: still one line
    FIRST_ORDER_LINES[2],
    # Bob in store at exactly midnight: not before 2025-03-10
    {
        "order_id": "O6",
        "line_number": 1,
        "ordered_at": "2025-03-10 00:00:00",
        "channel": "in_store",
        "store_id": "S2",
        "loyalty_id": "L2",
        "sku": "latte",
        "category_code": "coffee",
        "quantity": 1,
        "unit_price": 4.0,
    },
]


def _event(ts: str, name: str, cookie: str, session: str, **extra: object) -> dict[str, object]:
    return {
        "event_timestamp": ts,
        "event_name": name,
        "user_pseudo_id": cookie,
        "session_id": session,
        **extra,
    }


FIRST_WEB_EVENTS = [
    # Alice logged in on K1: two pages, one product, into the cart, no purchase
    _event("2025-03-02 20:00:00", "session_start", "K1", "s1", user_id="C1"),
    _event("2025-03-02 20:00:05", "page_view", "K1", "s1", user_id="C1"),
    _event("2025-03-02 20:01:00", "page_view", "K1", "s1", user_id="C1"),
    _event("2025-03-02 20:02:00", "view_item", "K1", "s1", user_id="C1", sku="house-blend"),
    _event("2025-03-02 20:03:00", "add_to_cart", "K1", "s1", user_id="C1", sku="house-blend"),
    # the shop's tablet: three customers log in on the same cookie
    _event("2025-02-20 10:00:00", "page_view", "K3", "t1", user_id="C2"),
    _event("2025-02-21 10:00:00", "page_view", "K3", "t2", user_id="C4"),
    _event("2025-02-22 10:00:00", "page_view", "K3", "t3", user_id="C6"),
]

SECOND_WEB_EVENTS = [
    # Bob's guest purchase on K2: the transaction id is the POS order id
    _event("2025-03-09 23:50:00", "page_view", "K2", "g1"),
    _event("2025-03-09 23:59:59", "purchase", "K2", "g1", transaction_id="O4", value=10.0),
]

TICKETS = [
    {
        "ticket_id": "T1",
        "contact_id": "C2",
        "created_at": "2025-03-03 09:00:00",
        "category": "delivery",
        "satisfaction_score": 4,
        "status": "closed",
    },
    # found by email only
    {
        "ticket_id": "T2",
        "email": "ALICE@example.com",
        "created_at": "2025-03-04 09:00:00",
        "category": "product",
        "satisfaction_score": 2,
        "status": "closed",
    },
]


def write_first_load(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        insert_rows(con, "crm_contacts", [*CONTACTS, STAFF_CONTACT], **FIRST_LOAD)
        insert_rows(
            con, "pos_order_lines", FIRST_ORDER_LINES + STAFF_CARD_ORDER_LINES, **FIRST_LOAD
        )
        insert_rows(con, "web_events", FIRST_WEB_EVENTS, **FIRST_LOAD)
        insert_rows(con, "crm_tickets", TICKETS, **FIRST_LOAD)


def write_second_load(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        insert_rows(con, "pos_order_lines", SECOND_ORDER_LINES, **SECOND_LOAD)
        insert_rows(con, "web_events", SECOND_WEB_EVENTS, **SECOND_LOAD)
