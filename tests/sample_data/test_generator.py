"""The generated sample: its files follow the contract, its defects are exactly as recorded, its
personas behave as planted, and the same seed writes the same bytes. The contract tests run on a
sample generated as one block of customers and on one generated in two blocks (as large samples
are), whose rows meet in the same day files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from pipelines.ingest.catalog import load_categories, write_product_categories
from pipelines.ingest.loader import load_days
from pipelines.ingest.schema import ENTITIES
from pipelines.sample_data import generate
from pipelines.sample_data.generator import _phone_digits
from pipelines.settings import PROJECT_ROOT

CUSTOMERS = 300
DAYS = 60
END = date(2026, 3, 31)
SEED = 7
DEFECT_RATE = 0.06
BLOCK = 150  # customers per block in the two-block sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, customers=CUSTOMERS, days=DAYS, end_date=END, seed=SEED, defect_rate=DEFECT_RATE)
    return out


@pytest.fixture(scope="module")
def two_blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("two_blocks")
    generate(
        out,
        customers=CUSTOMERS,
        days=DAYS,
        end_date=END,
        seed=SEED,
        defect_rate=DEFECT_RATE,
        chunk_customers=BLOCK,
    )
    return out


@pytest.fixture(params=["sample", "two_blocks"])
def any_sample(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


def read_file(path: Path) -> pl.DataFrame:
    """Every column as text, as the loader sees it."""
    if path.name.endswith(".ndjson.gz"):
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        rows = [{k: None if v is None else str(v) for k, v in json.loads(x).items()} for x in lines]
        return pl.DataFrame(rows, infer_schema_length=None)
    return pl.read_csv(path, infer_schema=False)


def entity_frames(sample: Path, source: str, entity: str) -> pl.DataFrame:
    """All of an entity's files stacked, with the file (relative to incoming/) and 1-based row."""
    incoming = sample / "incoming"
    parts = []
    for path in sorted((incoming / source).glob(f"*/{entity}*")):
        frame = read_file(path)
        if "phone_number" in frame.columns:
            frame = frame.rename({"phone_number": "phone"})
        parts.append(
            frame.with_columns(
                pl.lit(str(path.relative_to(incoming))).alias("_file"),
                pl.lit(path.parent.name).alias("_folder"),
                pl.int_range(1, pl.len() + 1).alias("_row"),
            )
        )
    return pl.concat(parts, how="diagonal_relaxed")


def truth(sample: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(sample / "sample_truth" / f"{name}.parquet")


def test_same_seed_writes_identical_files(any_sample: Path, tmp_path: Path) -> None:
    sample = any_sample
    chunk = json.loads((sample / "sample_truth" / "summary.json").read_text())["chunk_customers"]
    generate(
        tmp_path,
        customers=CUSTOMERS,
        days=DAYS,
        end_date=END,
        seed=SEED,
        defect_rate=DEFECT_RATE,
        chunk_customers=chunk,
    )
    first = sorted(p.relative_to(sample) for p in (sample / "incoming").rglob("*") if p.is_file())
    again = sorted(
        p.relative_to(tmp_path) for p in (tmp_path / "incoming").rglob("*") if p.is_file()
    )
    assert first == again
    for rel in first:
        assert (sample / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    for name in ("persons", "identifiers", "orders", "defects"):
        assert truth(sample, name).equals(truth(tmp_path, name)), name


def test_another_seed_gives_other_customers(sample: Path, tmp_path: Path) -> None:
    generate(tmp_path, customers=CUSTOMERS, days=DAYS, end_date=END, seed=SEED + 1, defect_rate=0)
    assert not truth(sample, "persons").equals(truth(tmp_path, "persons"))


def test_every_file_has_exactly_the_canonical_columns_in_the_landing_layout(
    any_sample: Path,
) -> None:
    sample = any_sample
    incoming = sample / "incoming"
    renamed = truth(sample, "defects").filter(pl.col("defect_kind") == "renamed_column")["file"]
    names = {
        ("crm", "contacts"): ".csv",
        ("crm", "tickets"): ".csv",
        ("crm", "email_events"): ".csv",
        ("pos", "order_lines"): ".csv.gz",
        ("web", "events"): ".ndjson.gz",
    }
    seen = set()
    for path in sorted(p for p in incoming.rglob("*") if p.is_file()):
        source, folder, file_name = path.relative_to(incoming).parts
        date.fromisoformat(folder)
        entity = next(e for (s, e) in names if s == source and file_name.startswith(e))
        assert file_name.endswith(names[(source, entity)]), path
        expected = ENTITIES[(source, entity)].column_names
        if str(path.relative_to(incoming)) in renamed.to_list():
            expected = ["phone_number" if c == "phone" else c for c in expected]
        columns = read_file(path).columns
        assert columns == expected, f"{path}: expected {expected}, found {columns}"
        seen.add((source, entity))
    assert seen == set(names)


def test_loader_quarantines_exactly_the_recorded_defects_with_their_reasons(
    any_sample: Path, tmp_path: Path
) -> None:
    sample = any_sample
    incoming = sample / "incoming"
    days = sorted({date.fromisoformat(d.name) for d in incoming.glob("*/*")})
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for source in ("crm", "pos", "web"):
            load_days(con, source, days, incoming)
        write_product_categories(con, load_categories())
        quarantined = con.sql("select source_file, source_row, reason from raw.quarantine").pl()
    expected = truth(sample, "defects").filter(pl.col("expected_reason").is_not_null())
    assert expected["defect_kind"].n_unique() == 6, "every row defect kind is planted"
    got = set(quarantined.iter_rows())
    want = set(expected.select("file", "row", "expected_reason").iter_rows())
    assert got == want, f"missing: {sorted(want - got)[:5]}, unexpected: {sorted(got - want)[:5]}"


def test_malformed_timestamps_in_the_files_are_the_recorded_ones(any_sample: Path) -> None:
    sample = any_sample
    lines = entity_frames(sample, "pos", "order_lines")
    bad = lines.filter(
        pl.col("ordered_at").is_not_null()
        & pl.col("ordered_at").str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False).is_null()
    )
    recorded = truth(sample, "defects").filter(
        (pl.col("entity") == "order_lines") & (pl.col("defect_kind") == "invalid_timestamp")
    )
    assert bad.height > 0
    assert set(bad.select("_file", "_row").iter_rows()) == set(
        recorded.select("file", "row").iter_rows()
    )


def test_a_late_file_keeps_its_days_timestamps_in_a_later_folder(any_sample: Path) -> None:
    sample = any_sample
    late = truth(sample, "defects").filter(pl.col("defect_kind") == "late_file")
    assert late.height == 1
    lines = entity_frames(sample, "pos", "order_lines").filter(pl.col("_file") == late["file"][0])
    folder = date.fromisoformat(lines["_folder"][0])
    row_days = (
        lines["ordered_at"]
        .str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False)
        .dt.date()
        .drop_nulls()
    )
    assert (row_days == folder - timedelta(days=2)).all()


def test_every_order_customer_is_a_contact_already_in_the_crm(any_sample: Path) -> None:
    sample = any_sample
    contacts = entity_frames(sample, "crm", "contacts")
    first_folder = contacts.group_by("contact_id").agg(pl.col("_folder").min().alias("known_from"))
    lines = entity_frames(sample, "pos", "order_lines").filter(pl.col("customer_id").is_not_null())
    unknown_defects = truth(sample, "defects").filter(pl.col("defect_kind") == "unknown_customer")
    checked = lines.join(first_folder, left_on="customer_id", right_on="contact_id", how="left")
    strangers = checked.filter(
        pl.col("known_from").is_null() | (pl.col("known_from") > pl.col("_folder"))
    )
    assert lines.height > 30
    assert set(strangers.select("_file", "_row").iter_rows()) == set(
        unknown_defects.select("file", "row").iter_rows()
    )


def test_online_orders_are_web_purchases_with_the_order_id(any_sample: Path) -> None:
    sample = any_sample
    lines = entity_frames(sample, "pos", "order_lines")
    online = set(lines.filter(pl.col("order_id").str.starts_with("WEB-"))["order_id"].unique())
    events = entity_frames(sample, "web", "events")
    purchases = set(
        events.filter(pl.col("event_name") == "purchase")["transaction_id"].drop_nulls()
    )
    assert online and purchases <= online
    assert len(online - purchases) <= 0.1 * len(online), "only defects may drop a purchase event"


def test_blocks_share_the_day_files_and_number_ids_over_the_whole_sample(two_blocks: Path) -> None:
    sample = two_blocks
    # one file per entity per day, whatever the number of blocks (the late file aside)
    incoming = sample / "incoming"
    names = [p.relative_to(incoming).parts for p in incoming.rglob("*") if p.is_file()]
    per_day = pl.DataFrame(names, schema=["source", "day", "file"], orient="row").filter(
        ~pl.col("file").str.contains("_late_")
    )
    assert per_day.group_by("source", "day", "file").len()["len"].max() == 1
    persons = truth(sample, "persons")
    assert persons["person_id"].to_list() == [f"P{i:07d}" for i in range(1, CUSTOMERS + 1)]
    # both blocks' customers shop, and their orders, tickets and sessions never share an id
    orders = truth(sample, "orders")
    buyers = orders["person_id"].str.slice(1).cast(pl.Int64)
    assert (buyers <= BLOCK).any() and (buyers > BLOCK).any()
    assert orders["order_id"].is_unique().all()
    lines = entity_frames(sample, "pos", "order_lines").filter(pl.col("order_id").is_not_null())
    per_order = lines.join(orders, on="order_id", how="left")
    assert per_order["person_id"].null_count() == 0
    tickets = entity_frames(sample, "crm", "tickets").filter(pl.col("ticket_id").is_not_null())
    duplicates = truth(sample, "defects").filter(pl.col("defect_kind") == "duplicate_row")
    copies = set(duplicates.select("file", "row").iter_rows())
    originals = tickets.filter(
        ~pl.struct("_file", "_row").map_elements(
            lambda r: (r["_file"], r["_row"]) in copies, return_dtype=pl.Boolean
        )
    )
    assert originals["ticket_id"].is_unique().all()
    events = entity_frames(sample, "web", "events").filter(
        pl.col("session_id").is_not_null() & pl.col("user_pseudo_id").is_not_null()
    )
    assert (
        events.group_by("session_id").agg(pl.col("user_pseudo_id").n_unique())["user_pseudo_id"]
        == 1
    ).all()
    # the shared identifiers are planted (in the first block) and found over the whole sample
    shared = truth(sample, "identifiers").filter("is_shared")
    assert set(shared["identifier_type"]) == {"email", "loyalty_id", "user_pseudo_id"}


def test_identity_is_imperfect_as_planted(sample: Path) -> None:
    identifiers = truth(sample, "identifiers")
    shared = identifiers.filter(pl.col("is_shared"))
    assert set(shared["identifier_type"]) == {"email", "loyalty_id", "user_pseudo_id"}
    # a person's email appears both as the CRM holds it and with other casing at checkouts
    emails = identifiers.filter(pl.col("identifier_type") == "email")
    cased = emails.group_by("person_id", pl.col("identifier_value").str.to_lowercase()).len()
    assert (cased["len"] > 1).any()
    phones = identifiers.filter(pl.col("identifier_type") == "phone")["identifier_value"]
    assert phones.str.starts_with("+44 20").any() and phones.str.starts_with("020-").any()
    orders = truth(sample, "orders")
    assert 0.1 < (~orders["has_identifier"]).mean() < 0.9, "some in-store orders are anonymous"


def test_no_two_of_a_million_customers_share_a_phone_number() -> None:
    # random eight-digit numbers would collide some thousand times at the L tier
    digits = _phone_digits(np.arange(1, 1_000_001), offset=12_345_678)
    assert len(np.unique(digits)) == len(digits)
    assert digits.min() >= 10_000_000 and digits.max() <= 99_999_999


def persona_behaviour(sample: Path) -> pl.DataFrame:
    orders = truth(sample, "orders").join(truth(sample, "persons"), on="person_id")
    lines = entity_frames(sample, "pos", "order_lines").with_columns(
        pl.col("unit_price").cast(pl.Float64, strict=False),
        pl.col("quantity").cast(pl.Int64, strict=False),
        pl.col("discount_amount").cast(pl.Float64, strict=False),
    )
    revenue = (
        lines.filter(pl.col("unit_price").is_between(0, 10_000))
        .group_by("order_id")
        .agg(
            (pl.col("unit_price") * pl.col("quantity")).sum().alias("gross"),
            pl.col("discount_amount").sum().alias("discount"),
        )
    )
    return (
        orders.join(revenue, on="order_id")
        .group_by("persona")
        .agg(
            (pl.col("channel") == "in_store").mean().alias("in_store_share"),
            (pl.col("discount").sum() / pl.col("gross").sum()).alias("discount_share"),
            pl.col("gross").mean().alias("average_order"),
            (pl.len() / pl.col("person_id").n_unique()).alias("orders_per_buyer"),
        )
    )


def test_personas_behave_as_planted(sample: Path) -> None:
    b = {row["persona"]: row for row in persona_behaviour(sample).iter_rows(named=True)}
    assert b["office_regular"]["in_store_share"] > 0.9 > 0.4 > b["bargain_hunter"]["in_store_share"]
    assert b["bargain_hunter"]["discount_share"] > 3 * b["office_regular"]["discount_share"]
    assert b["loyalist"]["average_order"] > b["office_regular"]["average_order"]
    persons = truth(sample, "persons").group_by("persona").len()
    orders = truth(sample, "orders").join(truth(sample, "persons"), on="person_id")
    per_person = orders.group_by("persona").len().join(persons, on="persona", how="right")
    rate = {
        r["persona"]: (r["len"] or 0) / r["len_right"] for r in per_person.iter_rows(named=True)
    }
    assert rate["office_regular"] > 3 * rate["cart_abandoner"]


def test_office_regulars_come_on_weekday_mornings_families_at_weekends(sample: Path) -> None:
    orders = truth(sample, "orders").join(truth(sample, "persons"), on="person_id")
    at = pl.col("ordered_at").str.to_datetime("%Y-%m-%dT%H:%M:%S")
    shares = (
        orders.filter(pl.col("channel") == "in_store")
        .group_by("persona")
        .agg(
            (at.dt.weekday() >= 6).mean().alias("weekend"),
            (at.dt.hour() < 10).mean().alias("morning"),
        )
    )
    s = {row["persona"]: row for row in shares.iter_rows(named=True)}
    assert s["office_regular"]["weekend"] < 0.05 and s["office_regular"]["morning"] > 0.8
    assert s["family_shopper"]["weekend"] > 0.5  # a flat week would give 2/7


def test_churners_stop_and_newcomers_start_on_their_planted_dates(sample: Path) -> None:
    persons = truth(sample, "persons")
    orders = (
        truth(sample, "orders")
        .join(persons, on="person_id")
        .with_columns(pl.col("ordered_at").str.slice(0, 10).str.to_date().alias("day"))
    )
    bought = orders.filter(~pl.col("order_id").str.starts_with("RET-"))
    churned = bought.filter(pl.col("persona") == "churner")
    assert churned.height > 0 and (churned["day"] < churned["churn_date"]).all()
    assert persons.filter(pl.col("persona") == "churner")["churn_date"].null_count() == 0
    newcomers = bought.filter(pl.col("persona") == "newcomer")
    assert (newcomers["day"] >= END - timedelta(days=60)).all()
    assert (newcomers["day"] >= newcomers["first_seen"]).all()


def test_cart_abandoners_fill_carts_and_rarely_buy(sample: Path) -> None:
    events = entity_frames(sample, "web", "events")
    persons = truth(sample, "persons")
    cookies = truth(sample, "identifiers").filter(
        (pl.col("identifier_type") == "user_pseudo_id") & ~pl.col("is_shared")
    )
    per_persona = (
        events.join(cookies, left_on="user_pseudo_id", right_on="identifier_value")
        .join(persons, on="person_id")
        .group_by("persona")
        .agg(
            ((pl.col("event_name") == "add_to_cart").sum() / pl.col("person_id").n_unique()).alias(
                "carts"
            ),
            (
                (pl.col("event_name") == "purchase").sum()
                / (pl.col("event_name") == "add_to_cart").sum()
            ).alias("conversion"),
        )
    )
    p = {row["persona"]: row for row in per_persona.iter_rows(named=True)}
    assert p["cart_abandoner"]["carts"] > 2 * p["office_regular"]["carts"]
    assert p["cart_abandoner"]["conversion"] < p["bargain_hunter"]["conversion"]


def test_consent_for_about_sixty_percent_of_contacts(sample: Path) -> None:
    persons = truth(sample, "persons").filter("has_contact")
    assert 0.5 < persons["has_consent"].mean() < 0.7


def test_without_web_no_web_folder_is_written(tmp_path: Path) -> None:
    summary = generate(tmp_path, customers=50, days=14, end_date=END, seed=1, include_web=False)
    assert not (tmp_path / "incoming" / "web").exists()
    assert "web/events" not in summary.rows and summary.rows["pos/order_lines"] > 0


def test_cli_generates_then_skips_when_data_exists(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pipelines.sample_data",
        "--out",
        str(tmp_path),
        "--customers",
        "40",
        "--days",
        "10",
        "--end-date",
        "2026-03-31",
        "--seed",
        "3",
        "--defect-rate",
        "0",
    ]
    first = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert "pos/order_lines" in first.stdout
    summary = json.loads((tmp_path / "sample_truth" / "summary.json").read_text())
    assert summary["end_date"] == "2026-03-31" and summary["defects"] == {}
    again = subprocess.run(
        [*command, "--skip-if-exists"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert "nothing generated" in again.stdout
