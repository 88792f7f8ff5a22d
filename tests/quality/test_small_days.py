"""Share rules on small days: one bad row in a tiny drop warns, a broken day or backfill still blocks.

The rows go through the real loader (`load_days`), so what the gates see is what ingestion
quarantined, with its reason, in a real DuckDB file.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.loader import load_days
from pipelines.quality.validate import Target, validate_target
from tests.quality.tiny_warehouse import write_order_lines

CONTACTS = Target(("raw", "crm_contacts"), "raw.crm_contacts", "raw_crm_contacts", "raw")
POS = Target(("raw", "pos_order_lines"), "raw.pos_order_lines", "raw_pos_order_lines", "raw")
FIRST_DAY = date(2025, 3, 1)
CONTACTS_HEADER = (
    "contact_id,email,phone,first_name,last_name,marketing_consent,created_at,updated_at"
)
ORDER_LINES_HEADER = (
    "order_id,line_number,ordered_at,channel,store_id,customer_id,loyalty_id,email,phone,"
    "sku,category_code,quantity,unit_price,discount_amount"
)


def contact(contact_id: str, day: date) -> str:
    return (
        f"{contact_id},{contact_id.lower()}@example.com,,Ana,Ruiz,true,"
        f"{day}T09:00:00,{day}T09:00:00"
    )


def order_line(order_id: str, day: date, *, customer: str = "", price: str = "3.50") -> str:
    return f"{order_id},1,{day}T09:00:00,in_store,S1,{customer},,,,espresso,coffee,1,{price},0"


class Shop:
    """A landing folder written day by day and loaded with the real ingest loader."""

    def __init__(self, root: Path) -> None:
        self.incoming = root / "incoming"
        self.warehouse = root / "warehouse.duckdb"

    def land(self, source: str, day: date, name: str, header: str, rows: list[str]) -> None:
        folder = self.incoming / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("\n".join([header, *rows]) + "\n")

    def contacts(self, day: date, rows: list[str]) -> None:
        self.land("crm", day, "contacts.csv", CONTACTS_HEADER, rows)

    def order_lines(self, day: date, rows: list[str]) -> None:
        self.land("pos", day, "order_lines.csv", ORDER_LINES_HEADER, rows)

    def load(self, source: str, days: list[date]) -> None:
        with duckdb.connect(str(self.warehouse)) as con:
            load_days(con, source, days, self.incoming)

    def quarantined(self) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.sql(
                "select partition_date, source_file, source_row, reason from raw.quarantine "
                "order by all"
            ).fetchall()


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path)


def tiny_contact_days(shop: Shop, days: int, bad: dict[int, int]) -> list[date]:
    """`days` drops of three contacts; drop n has `bad[n]` rows without a contact_id."""
    landed = []
    for n in range(days):
        day = FIRST_DAY + timedelta(days=n)
        rows = [contact(f"C{n}{i}", day) for i in range(3)]
        for i in range(bad.get(n, 0)):
            rows[i] = "," + rows[i].split(",", 1)[1]
        shop.contacts(day, rows)
        landed.append(day)
    shop.load("crm", landed)
    return landed


def errors(report) -> list[str]:
    return [o.expectation for o in report.failed("ERROR")]


def warnings(report) -> dict[str, list]:
    return {o.expectation: o.unexpected_sample for o in report.failed("WARN")}


def test_one_bad_row_in_a_tiny_contacts_drop_warns_and_is_quarantined_with_its_reason(
    shop: Shop,
) -> None:
    days = tiny_contact_days(shop, 8, bad={7: 1})
    last = days[-1]

    report = validate_target(CONTACTS, shop.warehouse)

    assert report.scope == f"_partition_date = {last}"
    assert errors(report) == []
    assert warnings(report) == {
        "quarantined_share_of_rows_read_at_most_on_a_small_day": [
            f"{last} (3 rows, under 20): 1 of 3 rows quarantined (missing_required 1)"
        ]
    }
    assert shop.quarantined() == [(last, f"crm/{last}/contacts.csv", 1, "missing_required")]


def test_a_backfill_of_tiny_drops_with_a_few_bad_rows_passes(shop: Shop) -> None:
    # 30 drops of 3 rows, two with a bad row: 2 of 90 rows (2%) over the whole range
    days = tiny_contact_days(shop, 30, bad={4: 1, 21: 1})

    report = validate_target(CONTACTS, shop.warehouse, partition_range=(days[0], days[-1]))

    assert errors(report) == []
    assert len(warnings(report)["quarantined_share_of_rows_read_at_most_on_a_small_day"]) == 2


def test_a_tiny_drop_broken_once_warns_and_broken_again_blocks(shop: Shop) -> None:
    # every row of the last two drops lacks its contact_id: the export itself broke
    days = tiny_contact_days(shop, 10, bad={8: 3, 9: 3})

    first_bad = validate_target(CONTACTS, shop.warehouse, partition_range=(days[8], days[8]))
    second_bad = validate_target(CONTACTS, shop.warehouse, partition_range=(days[9], days[9]))

    assert errors(first_bad) == []
    assert warnings(first_bad)["quarantined_share_of_rows_read_at_most_on_a_small_day"] == [
        f"{days[8]} (3 rows, under 20): 3 of 3 rows quarantined (missing_required 3)"
    ]
    assert errors(second_bad) == ["quarantined_share_of_rows_read_at_most"]
    assert second_bad.failed("ERROR")[0].unexpected_sample == [
        f"{days[9]} (3 rows) with the previous 7 loaded days: 6 of 24 rows quarantined"
    ]


def test_a_backfill_whose_tiny_drops_are_all_broken_blocks(shop: Shop) -> None:
    # one bad row in every drop: a third of what was sent, over and over
    days = tiny_contact_days(shop, 10, bad=dict.fromkeys(range(10), 1))

    report = validate_target(CONTACTS, shop.warehouse, partition_range=(days[0], days[-1]))

    assert errors(report) == ["quarantined_share_of_rows_read_at_most"]
    (outcome,) = report.failed("ERROR")
    # from the seventh drop on, the day and its previous days hold 20 rows or more
    assert outcome.unexpected_sample == [
        f"{days[6]} (3 rows) with the previous 7 loaded days: 7 of 21 rows quarantined",
        *(
            f"{day} (3 rows) with the previous 7 loaded days: 8 of 24 rows quarantined"
            for day in days[7:]
        ),
    ]
    assert len(warnings(report)["quarantined_share_of_rows_read_at_most_on_a_small_day"]) == 6


def usual_order_days(shop: Shop, lines: int, *, last_price: str = "3.50") -> list[date]:
    """Seven days of `lines` identified single-line orders, then one more with `last_price`."""
    days = [FIRST_DAY + timedelta(days=n) for n in range(8)]
    shop.contacts(days[0], [contact("C1", days[0])])
    shop.load("crm", days[:1])
    for n, day in enumerate(days):
        price = last_price if n == len(days) - 1 else "3.50"
        shop.order_lines(
            day, [order_line(f"O{n}-{i}", day, customer="C1", price=price) for i in range(lines)]
        )
    shop.load("pos", days)
    return days


def test_a_day_of_negative_amounts_still_blocks(shop: Shop) -> None:
    # a café day of 30 lines, every unit price negative: ingestion quarantines them all
    days = usual_order_days(shop, 30, last_price="-3.50")

    report = validate_target(POS, shop.warehouse)

    assert sorted(errors(report)) == [
        "quarantined_share_of_rows_read_at_most",
        "row_count_not_collapsing_vs_median_of_previous_7_days",
    ]
    share = next(o for o in report.failed("ERROR") if o.expectation.startswith("quarantined"))
    assert share.unexpected_sample == [f"{days[-1]}: 30 of 30 rows quarantined (invalid_amount 30)"]


def test_a_quiet_day_of_mostly_returns_only_warns(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    last_day = write_order_lines(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        # a quiet last day of 5 lines (usually 20), three of them refunds
        con.execute(
            "delete from raw.pos_order_lines where _partition_date = ? and _source_row > 5",
            [last_day],
        )
        con.execute(
            "update raw.pos_order_lines set quantity = -1 "
            "where _partition_date = ? and _source_row <= 3",
            [last_day],
        )

    report = validate_target(POS, warehouse)

    assert errors(report) == []
    assert warnings(report) == {
        "returns_share_plausible_on_a_small_day": [
            f"{last_day} (5 rows, under 20): 3 of 5 lines are returns"
        ],
        "net_revenue_of_the_day_not_negative": [f"{last_day}: net revenue -3.50 over 5 lines"],
        "row_count_not_dropping_vs_median_of_previous_7_days": [f"{last_day}: 5 rows vs median 20"],
    }


def test_a_backfill_of_small_days_that_are_all_returns_blocks(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        # eight days cut to 5 lines each, every line a refund: 40 return lines over the range
        con.execute("delete from raw.pos_order_lines where _source_row > 5")
        con.execute("update raw.pos_order_lines set quantity = -1")
        first, last = con.sql(
            "select min(_partition_date), max(_partition_date) from raw.pos_order_lines"
        ).fetchall()[0]

    report = validate_target(POS, warehouse, partition_range=(first, last))

    assert errors(report) == ["returns_share_plausible"]
    failures = report.failed("ERROR")[0].unexpected_sample
    # the fourth day is the first whose window holds 20 lines
    assert failures[0] == (
        f"{first + timedelta(days=3)} (5 rows) with the previous 7 loaded days: "
        "20 of 20 lines are returns"
    )
    assert len(failures) == 5 and failures[-1].startswith(f"{last} (5 rows)")


def orders_days(shop: Shop, per_day: list[tuple[int, int]]) -> list[date]:
    """Day n holds `per_day[n]` = (identified orders, anonymous orders), one line each."""
    days = [FIRST_DAY + timedelta(days=n) for n in range(len(per_day))]
    shop.contacts(days[0], [contact("C1", days[0])])
    shop.load("crm", days[:1])
    for n, (day, (identified, anonymous)) in enumerate(zip(days, per_day, strict=True)):
        rows = [order_line(f"O{n}-i{i}", day, customer="C1") for i in range(identified)]
        rows += [order_line(f"O{n}-a{i}", day) for i in range(anonymous)]
        shop.order_lines(day, rows)
    shop.load("pos", days)
    return days


def test_a_quiet_day_of_two_anonymous_orders_only_warns(shop: Shop) -> None:
    # a shop whose three orders a day all carry a customer, then a day of two walk-ins
    days = orders_days(shop, [(3, 0)] * 7 + [(0, 2)])

    report = validate_target(POS, shop.warehouse)

    assert errors(report) == []
    (warning,) = warnings(report)[
        "share_of_orders_with_customer_reference_not_dropping_on_a_small_day"
    ]
    assert warning.startswith(f"{days[-1]}: 0.0% of 2 orders identify a customer")


def test_small_days_that_keep_losing_their_customer_reference_block(shop: Shop) -> None:
    # a week of identified orders, then the export drops the customer column for good
    days = orders_days(shop, [(3, 0)] * 7 + [(0, 3)] * 7)

    report = validate_target(POS, shop.warehouse, partition_range=(days[7], days[-1]))

    assert "share_of_orders_with_customer_reference_not_dropping" in errors(report)


def test_an_unusual_day_blocks_a_daily_run_but_not_a_backfill_of_ordinary_days(shop: Shop) -> None:
    # two orders in three carry a customer; the last day only one in three (chance 0.0002):
    # alarming for one day's run, expected once in a while over a long backfill
    days = orders_days(shop, [(20, 10)] * 30 + [(10, 20)])

    daily = validate_target(POS, shop.warehouse, partition_range=(days[-1], days[-1]))
    backfill = validate_target(POS, shop.warehouse, partition_range=(days[0], days[-1]))

    assert errors(daily) == ["share_of_orders_with_customer_reference_not_dropping"]
    assert errors(backfill) == []
