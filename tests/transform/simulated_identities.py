"""A simulated café clientele with known people, to score identity resolution without the sample.

Not the project's sample generator: a compact simulation written for the identity tests, with
the difficulties that matter for merging: duplicate CRM contacts, phones written nationally and
internationally, mixed-case emails, guest checkouts, several cookies per person, family cookies
two accounts log in on, an info@ address on several contacts and a staff card lent at the till.
It writes the raw tables straight into a warehouse and the truth as `identifiers.parquet` and
`orders.parquet`, in the layout of the generator's `sample_truth/`.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from tests.transform.raw_tables import RAW_TABLES, create_raw_tables

START = datetime(2025, 1, 1)


def simulate(warehouse: Path, truth_dir: Path, *, people: int = 2000, seed: int = 1) -> None:
    rnd = random.Random(seed)

    def moment(day: int) -> str:
        return (START + timedelta(days=day, minutes=rnd.randint(420, 1200))).isoformat(sep=" ")

    contacts: list[dict] = []
    lines: list[dict] = []
    events: list[dict] = []
    truth_identifiers: list[tuple] = []
    truth_orders: list[tuple] = []
    persons = []
    for p in range(people):
        person = f"P{p}"
        contact_id = f"C{p}" if rnd.random() < 0.8 else None
        # the last six people gave the shop's generic address
        email = "info@shop.test" if p >= people - 6 else f"person{p}@mail.test"
        card = f"L{p}" if contact_id and rnd.random() < 0.6 else None
        if contact_id:
            contacts.append(
                {
                    "contact_id": contact_id,
                    "email": email if rnd.random() < 0.5 else email.upper(),
                    "phone": f"07700 9{p:05d}" if rnd.random() < 0.5 else f"+44 7700 9{p:05d}",
                    "loyalty_id": card,
                    "first_name": "X",
                    "created_at": moment(0),
                    "updated_at": moment(0),
                }
            )
            truth_identifiers.append((person, "contact_id", contact_id, False))
            if rnd.random() < 0.03:
                contacts.append(
                    {
                        "contact_id": f"D{p}",
                        "email": email,
                        "created_at": moment(5),
                        "updated_at": moment(5),
                    }
                )
                truth_identifiers.append((person, "contact_id", f"D{p}", False))
        cookies = [f"K{p}_{j}" for j in range(rnd.randint(1, 2))]
        truth_identifiers += [(person, "user_pseudo_id", c, False) for c in cookies]
        persons.append((p, contact_id, email, card, cookies))

    order_number = 0
    for p, contact_id, email, card, cookies in persons:
        for _ in range(rnd.randint(1, 10)):
            order_number += 1
            order_id, ordered_at = f"O{order_number}", moment(rnd.randint(1, 360))
            line = {
                "order_id": order_id,
                "line_number": 1,
                "ordered_at": ordered_at,
                "sku": "espresso",
                "category_code": "coffee",
                "quantity": 1,
                "unit_price": 3.0,
            }
            if rnd.random() < 0.3:
                line["channel"] = "online"
                if contact_id and rnd.random() < 0.7:
                    line["customer_id"] = contact_id
                else:
                    line["email"] = email
                events.append(
                    {
                        "event_timestamp": ordered_at,
                        "event_name": "purchase",
                        "user_pseudo_id": rnd.choice(cookies),
                        "session_id": f"s{order_number}",
                        "user_id": line.get("customer_id"),
                        "transaction_id": order_id,
                    }
                )
            else:
                line.update(channel="in_store", store_id="S1")
                draw = rnd.random()
                if card and draw < 0.8:
                    line["loyalty_id"] = card
                elif draw < 0.85:
                    line["loyalty_id"] = "STAFF"
            lines.append(line)
            truth_orders.append((order_id, f"P{p}"))
        for cookie in cookies:
            for visit in range(rnd.randint(1, 4)):
                logged_in = contact_id and rnd.random() < 0.5
                events.append(
                    {
                        "event_timestamp": moment(rnd.randint(1, 360)),
                        "event_name": "page_view",
                        "user_pseudo_id": cookie,
                        "session_id": f"v{cookie}-{visit}",
                        "user_id": contact_id if logged_in else None,
                    }
                )
    # family computers: two people with accounts log in on the same cookie
    for f in range(30):
        first, second = persons[2 * f], persons[2 * f + 1]
        if not (first[1] and second[1]):
            continue
        truth_identifiers.append((f"P{first[0]}", "user_pseudo_id", f"F{f}", True))
        for who in (first, second):
            events.append(
                {
                    "event_timestamp": moment(rnd.randint(1, 300)),
                    "event_name": "page_view",
                    "user_pseudo_id": f"F{f}",
                    "session_id": f"f{f}-{who[0]}",
                    "user_id": who[1],
                }
            )
    truth_identifiers.append(("staff", "loyalty_id", "STAFF", True))

    with duckdb.connect(str(warehouse)) as con:
        create_raw_tables(con)
        for table, rows in (
            ("crm_contacts", contacts),
            ("pos_order_lines", lines),
            ("web_events", events),
        ):
            columns = [c.split()[0] for c in RAW_TABLES[table].split(", ")]
            schema = {c.split()[0]: pl.String for c in RAW_TABLES[table].split(", ")}
            frame = pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], schema=schema)
            con.register("simulated", frame)
            con.execute(
                f"insert into raw.{table} select *, date '2025-12-31', 'simulated', 1, "
                "timestamp '2026-01-01 02:00:00' from simulated"
            )
    truth_dir.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        truth_identifiers,
        schema=["person_id", "identifier_type", "identifier_value", "is_shared"],
        orient="row",
    ).write_parquet(truth_dir / "identifiers.parquet")
    pl.DataFrame(truth_orders, schema=["order_id", "person_id"], orient="row").write_parquet(
        truth_dir / "orders.parquet"
    )
