"""Generate one café chain's CRM, POS and web exports plus the ground truth behind them.

Everything is vectorised over customers, orders and events (numpy for the draws, polars for the
strings and the files). Customers are generated in blocks (`chunk_customers`, each block with its
own random stream) whose rows go to a Parquet spool split by windows of days; a final pass reads
one window at a time from every block and writes one file per entity per day. Memory is bounded
by a block and a window, so a million customers over two years fits in a few GB.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.sample_data import personas as P
from pipelines.sample_data.defects import (
    assign_files,
    choose_file_defects,
    defect_records,
    file_defect_records,
    plant_row_defects,
)

EPOCH = date(1970, 1, 1)
FIRST_NAMES = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Freya",
    "Willow",
    "Emily",
    "Ella",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Leo",
    "Muhammad",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Jack",
    "Charlie",
    "Freddie",
    "Theo",
    "Thomas",
    "Aisha",
    "Priya",
    "Chen",
    "Wei",
    "Mateo",
    "Lucia",
    "Sofia",
    "Jan",
    "Anna",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Khan",
    "Singh",
]
CITIES = (
    ("London", "EC1A"),
    ("London", "SW1A"),
    ("London", "N1"),
    ("Manchester", "M1"),
    ("Bristol", "BS1"),
    ("Leeds", "LS1"),
    ("Brighton", "BN1"),
    ("Oxford", "OX1"),
)
MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "btinternet.com")
GENDERS = ("female", "male", "F", "M", "non-binary", "")
STORES = 8
SHOP_URL = "https://shop.example-cafe.co.uk"
STAFF_CARD = "LOY-STAFF-0001"
SHARED_SHOP_EMAIL = "info@hillside-bakes.co.uk"
# coprime with 90,000,000, so person number * PHONE_STEP modulo that gives every person other digits
PHONE_STEP = 61_803_401
# customers per block: bounds the generator's memory (peak 2.2-2.6 GB at 50,000, two years)
CHUNK_CUSTOMERS = 50_000
# rows per window of days in the final pass (all blocks' rows of those days are in memory)
WINDOW_ROWS = 1_500_000
# rows per customer per day over all entities, to size the windows (about 50 over two years)
ROWS_PER_CUSTOMER_DAY = 0.07


@dataclass
class GenerationSummary:
    """What a run wrote: the date range, rows per source/entity, defects per kind, persons."""

    start_date: date
    end_date: date
    customers: int
    seed: int
    defect_rate: float
    include_web: bool
    chunk_customers: int = CHUNK_CUSTOMERS
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    personas: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        data["start_date"] = self.start_date.isoformat()
        data["end_date"] = self.end_date.isoformat()
        return data


def _iso(seconds: pl.Expr) -> pl.Expr:
    return pl.from_epoch(seconds, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")


def _epoch_day(d: date) -> int:
    return (d - EPOCH).days


def _pick(rng: np.random.Generator, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """One category index per row, drawn from the row's group's weights."""
    out = np.zeros(len(groups), dtype=np.int64)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        w = weights[g] / weights[g].sum()
        out[rows] = rng.choice(len(w), size=len(rows), p=w)
    return out


def _catalogue(rng: np.random.Generator) -> pl.DataFrame:
    rows = []
    for code, (count, low, high) in P.CATEGORY_PRICES.items():
        prices = np.exp(rng.uniform(np.log(low), np.log(high), count))
        for i, price in enumerate(sorted(prices)):
            rows.append((code, f"{code[:3].upper()}-{i + 1:03d}", round(float(price), 2)))
    return pl.DataFrame(rows, schema=["category_code", "sku", "price"], orient="row")


def _sku_draw(
    rng: np.random.Generator, catalogue: pl.DataFrame, category: np.ndarray
) -> np.ndarray:
    """A sku row index per line: cheaper skus of a category sell more (Zipf-like popularity)."""
    codes = catalogue["category_code"].to_numpy()
    out = np.zeros(len(category), dtype=np.int64)
    for c, code in enumerate(P.CATEGORIES):
        rows = np.flatnonzero(category == c)
        skus = np.flatnonzero(codes == code)
        w = 1.0 / np.arange(1, len(skus) + 1) ** 0.8
        out[rows] = skus[rng.choice(len(skus), size=len(rows), p=w / w.sum())]
    return out


def _persons(rng: np.random.Generator, n: int, days: int) -> dict[str, np.ndarray]:
    persona = rng.choice(len(P.PERSONAS), size=n, p=P.PERSONA_SHARE / P.PERSONA_SHARE.sum())
    # day offsets relative to the first generated day; negative = known before the window
    first_seen = np.where(
        rng.random(n) < 0.7,
        -rng.integers(1, 730, n),
        rng.integers(0, max(1, int(days * 0.8)), n),
    )
    newcomer = persona == 1 + 3
    first_seen = np.where(newcomer, days - rng.integers(1, min(60, days) + 1, n), first_seen)
    churner = persona == 5
    first_seen = np.where(churner, np.minimum(first_seen, 0), first_seen)
    churn_lo, churn_hi = int(days * 0.3), max(int(days * 0.3) + 1, days - 45)
    churn_day = np.where(churner, rng.integers(churn_lo, churn_hi, n), np.iinfo(np.int32).max)
    has_contact = rng.random(n) < P.HAS_CONTACT[persona]
    has_card = has_contact & (rng.random(n) < P.HAS_LOYALTY_CARD[persona])
    consent = has_contact & (rng.random(n) < 0.6)
    return {
        "persona": persona,
        "first_seen": first_seen,
        "churn_day": churn_day,
        "active_from": np.maximum(first_seen, 0),
        "active_to": np.minimum(churn_day - 1, days - 1),
        "has_contact": has_contact,
        "has_card": has_card,
        "consent": consent,
        "basket": np.exp(rng.normal(P.BASKET_LOG_MEAN[persona], 0.45)),
        "home_store": rng.integers(1, STORES + 1, n),
        "first_name": rng.integers(0, len(FIRST_NAMES), n),
        "last_name": rng.integers(0, len(LAST_NAMES), n),
        "domain": rng.integers(0, len(MAIL_DOMAINS), n),
        "city": rng.integers(0, len(CITIES), n),
        "has_phone": rng.random(n) < 0.8,
        "has_second_email": rng.random(n) < 0.15,
        "cookies": 1 + np.minimum(rng.poisson(0.6, n), 2),
    }


def _phone_digits(person_id: np.ndarray, offset: int) -> np.ndarray:
    """Eight digits per person, different for every person (a bijection of the person's number,
    shifted by `offset`), so no two customers share a phone unless it is planted."""
    return 10_000_000 + (person_id * PHONE_STEP + offset) % 90_000_000


def _identity_table(
    people: dict[str, np.ndarray], first_person: int, phone_offset: int
) -> pl.DataFrame:
    """Per person: ids, names, emails (and their variants), phone and loyalty card as strings.

    `_person` indexes the block; `person_id` counts from `first_person + 1` over the whole sample.
    """
    n = len(people["persona"])
    idx = np.arange(n)
    first = np.array(FIRST_NAMES)[people["first_name"]]
    last = np.array(LAST_NAMES)[people["last_name"]]
    frame = pl.DataFrame(
        {
            "_person": idx,
            "person_id": first_person + idx + 1,
            "first_name": first,
            "last_name": last,
            "domain": np.array(MAIL_DOMAINS)[people["domain"]],
            "digits": _phone_digits(first_person + idx + 1, phone_offset),
            "has_contact": people["has_contact"],
            "has_card": people["has_card"],
            "has_phone": people["has_phone"],
            "has_second_email": people["has_second_email"],
        }
    )
    digits = pl.col("digits").cast(pl.String)
    a, b = digits.str.slice(0, 4), digits.str.slice(4, 4)
    return frame.select(
        "_person",
        pl.format("P{}", pl.col("person_id").cast(pl.String).str.zfill(7)).alias("person_id"),
        pl.when("has_contact")
        .then(pl.format("C{}", pl.col("person_id").cast(pl.String).str.zfill(7)))
        .alias("contact_id"),
        "first_name",
        "last_name",
        pl.format(
            "{}.{}{}@{}",
            pl.col("first_name").str.to_lowercase(),
            pl.col("last_name").str.to_lowercase(),
            pl.col("person_id"),
            "domain",
        ).alias("email"),
        pl.format("{}.{}{}@{}", "first_name", "last_name", pl.col("person_id"), "domain").alias(
            "email_cased"
        ),
        pl.when("has_second_email")
        .then(
            pl.format(
                "{}{}.{}@work-mail.co.uk",
                pl.col("first_name").str.slice(0, 1).str.to_lowercase(),
                pl.col("last_name").str.to_lowercase(),
                pl.col("person_id"),
            )
        )
        .alias("email_second"),
        # the same London number in the formats people and tills actually type
        pl.when("has_phone").then(pl.format("+44 20 {} {}", a, b)).alias("phone_intl"),
        pl.when("has_phone").then(pl.format("020 {} {}", a, b)).alias("phone_national"),
        pl.when("has_phone").then(pl.format("020-{}-{}", a, b)).alias("phone_dashed"),
        pl.when("has_phone").then(pl.format("+4420{}{}", a, b)).alias("phone_compact"),
        pl.when("has_card")
        .then(
            pl.format(
                "LOY{}", (pl.col("person_id") * 7919 % 100_000_000).cast(pl.String).str.zfill(8)
            )
        )
        .alias("loyalty_id"),
    )


def _orders(
    rng: np.random.Generator, people: dict[str, np.ndarray], start: date, days: int
) -> pl.DataFrame:
    """One row per order (not per line): person, day, second of day, channel, store."""
    persona = people["persona"]
    lo, hi = people["active_from"], people["active_to"]
    length = np.maximum(hi - lo + 1, 0)
    all_days = np.arange(days)
    calendar = [start + timedelta(days=int(d)) for d in all_days]
    dow = np.array([d.weekday() for d in calendar])
    season = P.seasonality(np.array([d.timetuple().tm_yday for d in calendar]))
    acceptance = P.WEEKDAY_WEIGHT.mean(axis=1) * season.mean()
    rate = P.ORDERS_PER_WEEK[persona] * people["boost"] * np.exp(rng.normal(0, 0.35, len(persona)))
    candidates = rng.poisson(rate * length / 7 / acceptance[persona])
    who = np.repeat(np.arange(len(persona)), candidates)
    day = lo[who] + (rng.random(len(who)) * length[who]).astype(np.int64)
    keep = rng.random(len(who)) < P.WEEKDAY_WEIGHT[persona[who], dow[day]] * season[day]
    who, day = who[keep], day[keep]
    # a newcomer's first purchase is the day they were first seen
    newcomers = np.flatnonzero((persona == 4) & (people["first_seen"] >= 0))
    who = np.concatenate([who, newcomers])
    day = np.concatenate([day, people["first_seen"][newcomers]])
    p = persona[who]
    online = rng.random(len(who)) < P.ONLINE_SHARE[p]
    hours = np.where(online, P.ONLINE_HOUR[p, 0], P.IN_STORE_HOUR[p, 0])
    spread = np.where(online, P.ONLINE_HOUR[p, 1], P.IN_STORE_HOUR[p, 1])
    hour = np.clip(
        rng.normal(hours, spread), np.where(online, 0, 7), np.where(online, 23.99, 18.99)
    )
    second = (hour * 3600).astype(np.int64)
    store = np.where(
        rng.random(len(who)) < 0.85,
        people["home_store"][who],
        rng.integers(1, STORES + 1, len(who)),
    )
    base = _epoch_day(start) * 86400
    return pl.DataFrame(
        {
            "_person": who,
            "_day": day,
            "_ts": base + day * 86400 + second,
            "online": online,
            "store": store,
            "_persona": p,
        }
    ).sort("_ts", "_person")


def _order_lines(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    ids: pl.DataFrame,
    orders: pl.DataFrame,
    catalogue: pl.DataFrame,
    days: int,
    first_order: int,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(order lines in the canonical columns plus `_person`/`_day`, truth per order).

    Orders are numbered from `first_order + 1` (the orders of earlier blocks come before).
    """
    n = orders.height
    persona = orders["_persona"].to_numpy()
    who = orders["_person"].to_numpy()
    online = orders["online"].to_numpy()
    seq = first_order + np.arange(1, n + 1)
    orders = orders.with_columns(
        pl.when(pl.col("online"))
        .then(pl.format("WEB-{}", pl.Series(seq).cast(pl.String).str.zfill(9)))
        .otherwise(pl.format("POS-{}", pl.Series(seq).cast(pl.String).str.zfill(9)))
        .alias("order_id"),
        pl.Series(
            "_discount_pct",
            np.where(
                rng.random(n) < P.DISCOUNT_ORDER_SHARE[persona],
                rng.choice([0.1, 0.15, 0.2, 0.3], n),
                0.0,
            ),
        ),
    )
    # identity on the order: which identifiers the person left at the till or checkout
    has_contact = people["has_contact"][who]
    has_card = people["has_card"][who]
    u = rng.random((5, n))
    # the staff card goes to office regulars who do come to a store in this window
    persona_of = people["persona"]
    regulars = np.unique(who[~online & (persona == 0)])
    if len(regulars) >= 2 and people["staff_card_size"] > 0:
        size = min(len(regulars), people["staff_card_size"])
        people["staff_card_users"] = rng.choice(regulars, size=size, replace=False)
    staff = np.isin(who, people["staff_card_users"]) & ~online & (u[0] < 0.8)
    logged_in = online & has_contact & (u[1] < 0.7)
    # the shop email goes to guests (bargain hunters first) who do check out in this window
    guests = np.unique(who[online & ~logged_in])
    guests = np.concatenate([guests[persona_of[guests] == 2], guests[persona_of[guests] != 2]])
    if len(guests) >= 2 and people["shop_email_size"] > 0:
        people["shop_email_users"] = guests[: min(len(guests), people["shop_email_size"])]
    shop_mail = np.isin(who, people["shop_email_users"]) & online & ~logged_in & (u[2] < 0.7)
    card_scanned = ~online & has_card & ~staff & (u[3] < 0.75)
    email_kind = np.where(u[4] < 0.6, 0, np.where(u[4] < 0.8, 1, 2))  # primary, cased, second
    phone_on = rng.random(n) < np.where(online, 0.5, 0.04)
    phone_fmt = rng.integers(0, 4, n)
    orders = orders.with_columns(
        pl.Series("_logged_in", logged_in),
        pl.Series("_staff", staff),
        pl.Series("_shop_mail", shop_mail),
        pl.Series("_card", card_scanned),
        pl.Series("_email_kind", email_kind),
        pl.Series("_phone_on", phone_on),
        pl.Series("_phone_fmt", phone_fmt),
    ).join(ids, on="_person", how="left")
    guest = pl.col("online") & ~pl.col("_logged_in")
    orders = orders.select(
        "order_id",
        "_person",
        "_day",
        "_ts",
        "_persona",
        "_discount_pct",
        pl.when("online").then(pl.lit("online")).otherwise(pl.lit("in_store")).alias("channel"),
        pl.when("online")
        .then(None)
        .otherwise(pl.format("store_{}", pl.col("store").cast(pl.String).str.zfill(2)))
        .alias("store_id"),
        pl.when("_logged_in").then("contact_id").alias("customer_id"),
        pl.when("_staff")
        .then(pl.lit(STAFF_CARD))
        .when("_card")
        .then("loyalty_id")
        .alias("loyalty_id"),
        pl.when(pl.col("_shop_mail"))
        .then(pl.lit(SHARED_SHOP_EMAIL))
        .when(guest & (pl.col("_email_kind") == 1))
        .then("email_cased")
        .when(guest & (pl.col("_email_kind") == 2) & pl.col("email_second").is_not_null())
        .then("email_second")
        .when(guest)
        .then("email")
        .alias("email"),
        pl.when(pl.col("_phone_on"))
        .then(
            pl.when(pl.col("_phone_fmt") == 0)
            .then("phone_intl")
            .when(pl.col("_phone_fmt") == 1)
            .then("phone_national")
            .when(pl.col("_phone_fmt") == 2)
            .then("phone_dashed")
            .otherwise("phone_compact")
        )
        .alias("phone"),
    )

    # lines
    extra = rng.poisson(P.EXTRA_LINES[persona] * people["basket"][who])
    n_lines = 1 + np.minimum(extra, 12)
    line_order = np.repeat(np.arange(n), n_lines)
    line_number = np.arange(len(line_order)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    mix = np.concatenate([P.IN_STORE_MIX, P.ONLINE_MIX])
    group = persona[line_order] + len(P.PERSONAS) * online[line_order]
    category = _pick(rng, mix, group)
    sku_row = _sku_draw(rng, catalogue, category)
    quantity = 1 + (rng.random(len(line_order)) < 0.2) * rng.poisson(0.8, len(line_order))
    lines = pl.DataFrame(
        {
            "_order": line_order,
            "line_number": line_number,
            "quantity": quantity,
            "_sku_row": sku_row,
        }
    )
    lines = lines.with_columns(
        pl.col("_sku_row").map_batches(lambda s: catalogue["sku"].gather(s)).alias("sku"),
        pl.col("_sku_row")
        .map_batches(lambda s: catalogue["category_code"].gather(s))
        .alias("category_code"),
        pl.col("_sku_row").map_batches(lambda s: catalogue["price"].gather(s)).alias("unit_price"),
    )
    lines = pl.concat(
        [lines, orders.select(pl.all().gather(pl.Series(line_order)))], how="horizontal"
    ).with_columns(
        (pl.col("unit_price") * pl.col("quantity") * pl.col("_discount_pct"))
        .round(2)
        .alias("discount_amount")
    )

    # returns: a later order with the line's negative quantity, under the same identifiers
    returning = rng.random(lines.height) < P.RETURN_LINE_SHARE[
        lines["_persona"].to_numpy()
    ] * np.where(lines["channel"].to_numpy() == "online", 2.0, 0.5)
    returns = lines.filter(pl.Series(returning)).with_columns(
        pl.Series("_delay", rng.integers(1, 15, int(returning.sum()))),
    )
    returns = (
        returns.with_columns(
            # an evening order returned an hour later in the day may fall on the next day
            (pl.col("_day") + pl.col("_delay") + (pl.col("_ts") % 86400 + 3600) // 86400).alias(
                "_day"
            ),
            (pl.col("_ts") + pl.col("_delay") * 86400 + 3600).alias("_ts"),
            (-pl.col("quantity")).alias("quantity"),
            pl.lit(0.0).alias("discount_amount"),
            pl.lit(1, pl.Int64).alias("line_number"),
            pl.format("RET-{}-{}", pl.col("order_id").str.slice(4), pl.col("line_number")).alias(
                "order_id"
            ),
        )
        .filter(pl.col("_day") < days)
        .drop("_delay")
    )
    lines = pl.concat([lines, returns], how="vertical_relaxed").sort(
        "_ts", "order_id", "line_number"
    )
    lines = lines.with_columns(_iso(pl.col("_ts")).alias("ordered_at"))

    truth = lines.group_by("order_id", maintain_order=True).agg(
        pl.col("_person").first(),
        pl.col("channel").first(),
        pl.col("ordered_at").first(),
        pl.any_horizontal(
            pl.col("customer_id").is_not_null(),
            pl.col("loyalty_id").is_not_null(),
            pl.col("email").is_not_null(),
            pl.col("phone").is_not_null(),
        )
        .any()
        .alias("has_identifier"),
    )
    columns = [
        "order_id",
        "line_number",
        "ordered_at",
        "channel",
        "store_id",
        "customer_id",
        "loyalty_id",
        "email",
        "phone",
        "sku",
        "category_code",
        "quantity",
        "unit_price",
        "discount_amount",
    ]
    return lines.select(*columns, "_person", "_day", "_ts", "_persona"), truth


def _cookies(rng: np.random.Generator, people: dict[str, np.ndarray]) -> pl.DataFrame:
    """Every person's browser cookies; one family device is shared by two persons."""
    n = len(people["persona"])
    who = np.repeat(np.arange(n), people["cookies"])
    slot = np.arange(len(who)) - np.repeat(
        np.cumsum(people["cookies"]) - people["cookies"], people["cookies"]
    )
    device = rng.choice(np.array(["mobile", "desktop", "tablet"]), len(who), p=[0.6, 0.32, 0.08])
    cookies = pl.DataFrame(
        {
            "_person": who,
            "_slot": slot,
            "device_category": device,
            "_a": rng.integers(100_000_000, 2_000_000_000, len(who)),
            "_b": rng.integers(1_600_000_000, 1_800_000_000, len(who)),
        }
    ).with_columns(pl.format("{}.{}", "_a", "_b").alias("user_pseudo_id"))
    pairs = np.array(people["family_device_pairs"], dtype=np.int64).reshape(-1, 2)
    shared = (
        pl.DataFrame({"_owner": pairs[:, 0], "_person": pairs[:, 1]})
        .join(
            cookies.filter(pl.col("_slot") == 0).select(
                pl.col("_person").alias("_owner"), pl.col("user_pseudo_id").alias("_shared")
            ),
            on="_owner",
        )
        .select("_person", pl.lit(0, pl.Int64).alias("_slot"), "_shared")
    )
    cookies = cookies.join(shared, on=["_person", "_slot"], how="left", maintain_order="left")
    cookies = cookies.with_columns(pl.coalesce("_shared", "user_pseudo_id").alias("user_pseudo_id"))
    return cookies.select("_person", "_slot", "device_category", "user_pseudo_id")


def _web_events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    ids: pl.DataFrame,
    lines: pl.DataFrame,
    catalogue: pl.DataFrame,
    cookies: pl.DataFrame,
    start: date,
    days: int,
    first_session: int,
) -> tuple[pl.DataFrame, int]:
    """GA4-style events of browsing and purchase sessions numbered from `first_session + 1`, and
    how many sessions there are."""
    persona = people["persona"]
    lo, hi = people["active_from"], people["active_to"]
    length = np.maximum(hi - lo + 1, 0)
    # browsing sessions start a little before a person's first purchase
    browse = rng.poisson(P.BROWSE_SESSIONS_PER_WEEK[persona] * people["boost"] * length / 7)
    # both persons behind a family device browse at least once, so the shared cookie is visible
    pair = np.array(people["family_device_pairs"], dtype=np.int64).reshape(-1)
    browse[pair] = np.maximum(browse[pair], length[pair] > 0)
    who = np.repeat(np.arange(len(persona)), browse)
    day = lo[who] + (rng.random(len(who)) * length[who]).astype(np.int64)
    hour = np.clip(
        rng.normal(P.ONLINE_HOUR[persona[who], 0], P.ONLINE_HOUR[persona[who], 1]), 0, 23.5
    )
    base = _epoch_day(start) * 86400
    browse_sessions = pl.DataFrame(
        {
            "_person": who,
            "_ts": base + day * 86400 + (hour * 3600).astype(np.int64),
            "_logged_in": people["has_contact"][who]
            & (rng.random(len(who)) < P.LOGIN_SHARE[persona[who]]),
            "transaction_id": pl.Series([None] * len(who), dtype=pl.String),
            "_value": np.zeros(len(who)),
        }
    )
    online = lines.filter((pl.col("channel") == "online") & (pl.col("quantity") > 0))
    purchases = (
        online.group_by("order_id", maintain_order=True)
        .agg(
            pl.col("_person").first(),
            (pl.col("_ts").first() - 240).alias("_ts"),
            pl.col("customer_id").first().is_not_null().alias("_logged_in"),
            (pl.col("unit_price") * pl.col("quantity") - pl.col("discount_amount"))
            .sum()
            .round(2)
            .alias("_value"),
        )
        .rename({"order_id": "transaction_id"})
    )
    sessions = pl.concat(
        [browse_sessions, purchases.select(browse_sessions.columns)], how="vertical_relaxed"
    )
    sessions = sessions.sort("_ts", "_person").with_row_index("_session")
    ns = sessions.height
    # each session browses with one of the person's cookies
    per_person = pl.Series(people["cookies"])
    slot = (rng.random(ns) * per_person.gather(sessions["_person"]).to_numpy()).astype(np.int64)
    sessions = (
        sessions.with_columns(pl.Series("_slot", slot))
        .join(cookies, on=["_person", "_slot"], how="left")
        .join(ids.select("_person", "contact_id"), on="_person", how="left")
        .with_columns(
            pl.when("_logged_in").then("contact_id").alias("user_id"),
            (pl.col("_session") + first_session + 1).cast(pl.String).alias("session_id"),
            pl.col("_person").map_batches(lambda s: pl.Series(persona).gather(s)).alias("_persona"),
        )
    )
    is_purchase = sessions["transaction_id"].is_not_null().to_numpy()
    sp = sessions["_persona"].to_numpy()
    page_views = 1 + rng.poisson(1.0, ns)
    item_views = np.where(is_purchase, 0, rng.poisson(P.ITEM_VIEWS_PER_SESSION[sp]))
    carts = np.where(is_purchase, 0, rng.binomial(item_views, P.ADD_TO_CART_SHARE[sp]))
    checkout = np.where(is_purchase, 1, (carts > 0) & (rng.random(ns) < 0.25))

    def repeat_sessions(counts: np.ndarray, name: str, rank: int) -> pl.DataFrame:
        rows = np.repeat(np.arange(ns), counts)
        return pl.DataFrame(
            {"_session": rows, "event_name": [name] * len(rows), "_rank": np.full(len(rows), rank)}
        )

    browse_items = repeat_sessions(item_views, "view_item", 2)
    item_groups = sp[browse_items["_session"].to_numpy()] + len(P.PERSONAS)
    mix = np.concatenate([P.IN_STORE_MIX, P.ONLINE_MIX])
    item_rows = _sku_draw(rng, catalogue, _pick(rng, mix, item_groups))
    browse_items = browse_items.with_columns(pl.Series("_sku_row", item_rows))
    # add_to_cart events reuse the first viewed items of the session
    browse_items = browse_items.with_columns(pl.int_range(pl.len()).over("_session").alias("_k"))
    carts_by_session = pl.DataFrame({"_session": np.arange(ns), "_carts": carts})
    cart_items = (
        browse_items.join(carts_by_session, on="_session")
        .filter(pl.col("_k") < pl.col("_carts"))
        .with_columns(pl.lit("add_to_cart").alias("event_name"), pl.lit(3).alias("_rank"))
        .drop("_carts")
    )
    sku_of = catalogue.with_row_index("_sku_row").with_columns(pl.col("_sku_row").cast(pl.Int64))
    item_events = (
        pl.concat([browse_items, cart_items], how="vertical_relaxed")
        .join(sku_of, on="_sku_row", how="left")
        .with_columns(pl.col("price").alias("_value"))
    )
    # purchase sessions view and add each order line
    session_of_tx = sessions.filter(pl.col("transaction_id").is_not_null()).select(
        "_session", pl.col("transaction_id").alias("order_id")
    )
    bought = online.join(session_of_tx, on="order_id").select(
        "_session",
        "sku",
        "category_code",
        (pl.col("unit_price") * pl.col("quantity")).alias("_value"),
        "line_number",
    )
    bought_events = pl.concat(
        [
            bought.with_columns(pl.lit("view_item").alias("event_name"), pl.lit(2).alias("_rank")),
            bought.with_columns(
                pl.lit("add_to_cart").alias("event_name"), pl.lit(3).alias("_rank")
            ),
        ]
    ).rename({"line_number": "_k"})
    item_events = pl.concat(
        [
            item_events.select(
                "_session", "event_name", "_rank", "_k", "sku", "category_code", "_value"
            ),
            bought_events.select(
                "_session",
                "event_name",
                pl.col("_rank").cast(pl.Int64),
                pl.col("_k").cast(pl.UInt32),
                "sku",
                "category_code",
                "_value",
            ),
        ],
        how="vertical_relaxed",
    )
    plain = pl.concat(
        [
            repeat_sessions(np.ones(ns, dtype=np.int64), "session_start", 0),
            repeat_sessions(page_views, "page_view", 1),
            repeat_sessions(checkout.astype(np.int64), "begin_checkout", 4),
            repeat_sessions(is_purchase.astype(np.int64), "purchase", 5),
        ]
    ).with_columns(
        pl.int_range(pl.len()).over("_session", "event_name").cast(pl.UInt32).alias("_k")
    )
    events = pl.concat([plain, item_events], how="diagonal_relaxed")
    events = events.sort("_session", "_rank", "_k")
    events = events.with_columns(pl.Series("_gap", rng.integers(4, 120, events.height)))
    events = events.with_columns(
        (pl.col("_gap").cum_sum().over("_session") - pl.col("_gap").first().over("_session")).alias(
            "_offset"
        )
    )
    events = events.join(
        sessions.select(
            "_session",
            "_person",
            "_ts",
            "user_pseudo_id",
            "user_id",
            "session_id",
            "device_category",
            "transaction_id",
            pl.col("_value").alias("_order_value"),
        ),
        on="_session",
        how="left",
    )
    events = events.with_columns((pl.col("_ts") + pl.col("_offset")).alias("_ts"))
    events = events.with_columns(
        ((pl.col("_ts") // 86400) - _epoch_day(start)).alias("_day"),
        _iso(pl.col("_ts")).alias("event_timestamp"),
        pl.when(pl.col("event_name") == "purchase").then("transaction_id").alias("transaction_id"),
        pl.when(pl.col("event_name") == "purchase")
        .then("_order_value")
        .when(pl.col("event_name").is_in(["view_item", "add_to_cart"]))
        .then(pl.col("_value").round(2))
        .alias("value"),
        pl.when(pl.col("event_name") == "view_item")
        .then(pl.format(SHOP_URL + "/product/{}", "sku"))
        .when(pl.col("event_name") == "begin_checkout")
        .then(pl.lit(SHOP_URL + "/checkout"))
        .when(pl.col("event_name") == "purchase")
        .then(pl.lit(SHOP_URL + "/checkout/thank-you"))
        .when(pl.col("event_name") == "add_to_cart")
        .then(pl.lit(SHOP_URL + "/cart"))
        .otherwise(pl.lit(SHOP_URL + "/"))
        .alias("page_location"),
    ).filter(pl.col("_day") < days)
    columns = events.select(
        "event_timestamp",
        "event_name",
        "user_pseudo_id",
        "user_id",
        "session_id",
        "page_location",
        "sku",
        "category_code",
        "transaction_id",
        "value",
        "device_category",
        "_person",
        "_day",
        "_ts",
        "_session",
    )
    return columns.sort("_ts", "_session", maintain_order=True).drop("_session"), ns


def _contacts(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    ids: pl.DataFrame,
    start: date,
    days: int,
) -> pl.DataFrame:
    """A contact row on the day the person became known (or the first day), plus later updates."""
    n = len(people["persona"])
    first_seen = people["first_seen"]
    created_s = (_epoch_day(start) + first_seen) * 86400 + rng.integers(8 * 3600, 20 * 3600, n)
    birth = rng.integers(_epoch_day(date(1950, 1, 1)), _epoch_day(date(2006, 1, 1)), n)
    city = people["city"]
    base = pl.DataFrame(
        {
            "_person": np.arange(n),
            "_day": np.maximum(first_seen, 0),
            "_created": created_s,
            "_ts": np.where(first_seen >= 0, created_s, _epoch_day(start) * 86400 + 6 * 3600),
            "birth_date": pl.Series(birth).cast(pl.Date),
            "gender": np.array(GENDERS)[rng.integers(0, len(GENDERS), n)],
            "city": np.array([c for c, _ in CITIES])[city],
            "postal_code": np.char.add(
                np.char.add(np.array([p for _, p in CITIES])[city], " "),
                np.char.add(
                    rng.integers(1, 10, n).astype(str),
                    np.array(list("ABDEFGHJLNPQRSTUWXYZ"))[rng.integers(0, 20, n)],
                ),
            ),
            "marketing_consent": people["consent"],
            "_phone_fmt": rng.integers(0, 4, n),
        }
    ).join(ids, on="_person")
    base = base.filter(pl.col("contact_id").is_not_null())
    # about one contact in ten is edited later: a new phone format or a consent change
    m = base.height
    edited = rng.random(m) < 0.1
    later = (
        base["_day"].to_numpy()
        + 1
        + (rng.random(m) * np.maximum(days - 1 - base["_day"].to_numpy(), 0)).astype(np.int64)
    )
    edited &= later < days
    updates = base.filter(pl.Series(edited)).with_columns(
        pl.Series("_day", later[edited]),
        pl.Series(
            "_ts",
            (_epoch_day(start) + later[edited]) * 86400
            + rng.integers(8 * 3600, 20 * 3600, int(edited.sum())),
        ),
        ((pl.col("_phone_fmt") + 1) % 4).alias("_phone_fmt"),
        pl.when(pl.Series(rng.random(int(edited.sum())) < 0.3))
        .then(~pl.col("marketing_consent"))
        .otherwise("marketing_consent")
        .alias("marketing_consent"),
    )
    base = base.with_columns(pl.lit(True).alias("_first_record"))
    updates = updates.with_columns(pl.lit(False).alias("_first_record"))
    rows = pl.concat([base, updates]).sort("_ts", "contact_id")
    return rows.select(
        "contact_id",
        "email",
        pl.when(pl.col("_phone_fmt") == 0)
        .then("phone_intl")
        .when(pl.col("_phone_fmt") == 1)
        .then("phone_national")
        .when(pl.col("_phone_fmt") == 2)
        .then("phone_dashed")
        .otherwise("phone_compact")
        .alias("phone"),
        "first_name",
        "last_name",
        pl.col("birth_date").cast(pl.String),
        "gender",
        "city",
        "postal_code",
        pl.lit("GB").alias("country"),
        "loyalty_id",
        pl.when("marketing_consent")
        .then(pl.lit("true"))
        .otherwise(pl.lit("false"))
        .alias("marketing_consent"),
        _iso(pl.col("_created")).alias("created_at"),
        _iso(pl.col("_ts")).alias("updated_at"),
        "_person",
        "_day",
        "_ts",
        "_first_record",
    )


def _tickets(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    ids: pl.DataFrame,
    start: date,
    first_ticket: int,
) -> pl.DataFrame:
    """Support tickets, numbered from `first_ticket + 1`."""
    persona = people["persona"]
    lo, hi = people["active_from"], people["active_to"]
    length = np.maximum(hi - lo + 1, 0)
    count = rng.poisson(P.TICKETS_PER_YEAR[persona] * length / 365)
    who = np.repeat(np.arange(len(persona)), count)
    day = lo[who] + (rng.random(len(who)) * length[who]).astype(np.int64)
    n = len(who)
    score = np.clip(np.round(rng.normal(P.SATISFACTION_MEAN[persona[who]], 0.9)), 1, 5).astype(
        np.int64
    )
    categories = np.array(["delivery", "refund", "product", "store", "account", "loyalty"])
    frame = pl.DataFrame(
        {
            "_person": who,
            "_day": day,
            "_ts": (_epoch_day(start) + day) * 86400 + rng.integers(9 * 3600, 18 * 3600, n),
            "category": categories[rng.integers(0, len(categories), n)],
            "satisfaction_score": pl.Series(score).set(pl.Series(rng.random(n) < 0.25), None)
            if n
            else pl.Series([], dtype=pl.Int64),
            "_with_email": rng.random(n) < 0.9,
            "status": np.where(rng.random(n) < 0.9, "closed", "open"),
        }
    ).sort("_ts", "_person")
    frame = frame.with_row_index("_n", offset=first_ticket + 1).join(
        ids, on="_person", how="left", maintain_order="left"
    )
    return frame.select(
        pl.format("T-{}", pl.col("_n").cast(pl.String).str.zfill(8)).alias("ticket_id"),
        "contact_id",
        pl.when(pl.col("_with_email") | pl.col("contact_id").is_null())
        .then("email")
        .alias("email"),
        _iso(pl.col("_ts")).alias("created_at"),
        "category",
        "satisfaction_score",
        "status",
        "_person",
        "_day",
        "_ts",
    )


def _email_events(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    contacts: pl.DataFrame,
    start: date,
    days: int,
) -> pl.DataFrame:
    """Monthly campaigns to consenting contacts; opens and clicks follow the persona."""
    consenting = contacts.filter(pl.col("_first_record") & (pl.col("marketing_consent") == "true"))
    who = consenting["_person"].to_numpy()
    known_from = consenting["_day"].to_numpy()
    frames = []
    for number, campaign_day in enumerate(range(3, days, 28)):
        reached = (known_from <= campaign_day) & (rng.random(len(who)) < 0.35)
        p = who[reached]
        sent_s = (
            (_epoch_day(start) + campaign_day) * 86400 + 9 * 3600 + rng.integers(0, 1800, len(p))
        )
        active = people["active_to"][p] >= campaign_day
        opened = rng.random(len(p)) < np.where(
            active, P.EMAIL_OPEN_SHARE[people["persona"][p]], 0.03
        )
        clicked = opened & (rng.random(len(p)) < 0.3)
        unsubscribed = rng.random(len(p)) < np.where(active, 0.003, 0.02)
        open_s = sent_s + rng.integers(300, 3 * 86400, len(p))
        campaign = f"CMP-{start + timedelta(days=campaign_day):%Y%m%d}"
        parts = [
            (np.ones(len(p), bool), "sent", sent_s),
            (opened, "open", open_s),
            (clicked, "click", open_s + rng.integers(5, 600, len(p))),
            (unsubscribed, "unsubscribe", open_s + 700),
        ]
        for mask, name, ts in parts:
            frames.append(
                pl.DataFrame({"_person": p[mask], "_ts": ts[mask]}).with_columns(
                    pl.lit(campaign).alias("campaign_id"),
                    pl.lit(name).alias("event_type"),
                    pl.lit(number).alias("_n"),
                )
            )
    if not frames:
        return pl.DataFrame()
    events = pl.concat(frames).join(
        consenting.select("_person", "contact_id", "email"), on="_person", how="left"
    )
    events = events.with_columns(((pl.col("_ts") // 86400) - _epoch_day(start)).alias("_day"))
    events = events.filter(pl.col("_day") < days).sort("_ts", "contact_id", "event_type")
    return events.select(
        "email",
        "contact_id",
        "campaign_id",
        "event_type",
        _iso(pl.col("_ts")).alias("occurred_at"),
        "_person",
        "_day",
        "_ts",
    )


ENTITY_FILES = {
    ("crm", "contacts"): "contacts.csv",
    ("crm", "tickets"): "tickets.csv",
    ("crm", "email_events"): "email_events.csv",
    ("pos", "order_lines"): "order_lines.csv.gz",
    ("web", "events"): "events.ndjson.gz",
}
# the columns a spooled row keeps besides the canonical ones: its day, its place in the files'
# order (time, block, place in the block, copy) and its defect
SPOOL_COLUMNS = ["_day", "_ts", "_chunk", "_seq", "_dup", "_defect", "_defect_column"]


def _file_bytes(rows: pl.DataFrame, path: str) -> bytes:
    if path.endswith((".ndjson.gz", ".ndjson")):
        data = rows.write_ndjson().encode()
    else:
        buffer = io.BytesIO()
        rows.write_csv(buffer)
        data = buffer.getvalue()
    if path.endswith(".gz"):
        data = gzip.compress(data, compresslevel=1, mtime=0)
    return data


def _write_files(
    pool: ThreadPoolExecutor,
    frame: pl.DataFrame,
    incoming: Path,
    renamed: dict[str, dict[str, str]],
) -> int:
    """One file per `_path`, i.e. per `_day` (columns renamed where `renamed` says); how many."""
    columns = [c for c in frame.columns if not c.startswith("_")]
    jobs = []
    for part in frame.partition_by("_day", maintain_order=True):
        path = part["_path"][0]
        rows = part.select(columns)
        if path in renamed:
            rows = rows.rename(renamed[path])
        target = incoming / path
        target.parent.mkdir(parents=True, exist_ok=True)
        jobs.append(pool.submit(lambda r=rows, p=path, t=target: t.write_bytes(_file_bytes(r, p))))
    for job in jobs:
        job.result()
    return len(jobs)


def _shared_persons(
    rng: np.random.Generator, people: dict[str, np.ndarray], first_block: bool
) -> None:
    """Plant the shared identifiers in a block: a staff card, a shop email, a family device.

    Every block gets its share of staff-card users and family devices (one per 1,000 customers);
    the first block also gets the minimum a small sample needs and the three shop-email users.
    """
    n = len(people["persona"])
    persona = people["persona"]
    people["staff_card_size"] = max(3, n // 1000) if first_block else n // 1000
    people["shop_email_size"] = 3 if first_block else 0
    # a few persons share a staff card, a shop email on guest orders, or a family device
    office = np.flatnonzero(persona == 0)
    staff_pool = office if len(office) >= 3 else np.arange(n)
    people["staff_card_users"] = rng.choice(
        staff_pool, size=min(len(staff_pool), people["staff_card_size"]), replace=False
    )
    # the shop email is typed at guest checkouts by bargain hunters without an account
    hunters = np.flatnonzero(persona == 2)
    hunters = np.concatenate(
        [hunters[~people["has_contact"][hunters]], hunters[people["has_contact"][hunters]]]
    )
    pool = hunters if len(hunters) >= 3 else np.arange(n)
    people["shop_email_users"] = pool[: min(len(pool), people["shop_email_size"])]
    people["has_contact"][people["shop_email_users"]] = False
    people["has_card"][people["shop_email_users"]] = False
    people["consent"][people["shop_email_users"]] = False
    # a family tablet: a parent's cookie is also the only browser of a cart-abandoning teenager
    parents, teens = np.flatnonzero(persona == 1), np.flatnonzero(persona == 6)
    wanted = max(1, n // 1000) if first_block else n // 1000
    pairs = min(len(parents), len(teens), wanted)
    people["family_device_pairs"] = [
        (int(a), int(b))
        for a, b in zip(
            rng.choice(parents, pairs, replace=False),
            rng.choice(teens, pairs, replace=False),
            strict=True,
        )
    ]
    for parent, teen in people["family_device_pairs"]:
        people["cookies"][teen] = people["cookies"][parent] = 1
    # a family sharing a device browses more, so that even a tiny sample shows the shared cookie
    people["boost"] = np.ones(n)
    shared_users = [p for pair in people["family_device_pairs"] for p in pair]
    people["boost"][np.array(shared_users, dtype=np.int64)] = 3.0


@dataclass
class _Counters:
    """Numbers already used by earlier blocks, so that ids stay unique over the sample."""

    persons: int = 0
    orders: int = 0
    tickets: int = 0
    sessions: int = 0


def _persons_truth(
    people: dict[str, np.ndarray], ids: pl.DataFrame, start: date, days: int
) -> pl.DataFrame:
    start_day = np.datetime64(start, "D")
    churn = people["churn_day"]
    churn_date = pl.Series(
        "churn_date", start_day + np.minimum(churn, days).astype("timedelta64[D]")
    ).cast(pl.Date)
    return ids.select("person_id", "contact_id").with_columns(
        pl.Series("persona", np.array(P.PERSONAS)[people["persona"]]),
        pl.when(pl.Series(churn < days)).then(churn_date).alias("churn_date"),
        pl.Series("first_seen", start_day + people["first_seen"].astype("timedelta64[D]")).cast(
            pl.Date
        ),
        pl.Series("has_consent", people["consent"]),
        pl.Series("has_contact", people["has_contact"]),
        pl.Series("has_loyalty_card", people["has_card"]),
    )


def _generate_block(
    rng: np.random.Generator,
    chunk: int,
    customers: int,
    counters: _Counters,
    catalogue: pl.DataFrame,
    start: date,
    days: int,
    defect_rate: float,
    include_web: bool,
    phone_offset: int,
) -> tuple[dict[tuple[str, str], pl.DataFrame], pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One block's rows with their defects planted, and its persons, orders and identifiers truth."""
    people = _persons(rng, customers, days)
    _shared_persons(rng, people, first_block=chunk == 0)
    ids = _identity_table(people, counters.persons, phone_offset)
    orders = _orders(rng, people, start, days)
    lines, order_truth = _order_lines(rng, people, ids, orders, catalogue, days, counters.orders)
    counters.orders += orders.height
    del orders
    contacts = _contacts(rng, people, ids, start, days)
    tickets = _tickets(rng, people, ids, start, counters.tickets)
    counters.tickets += tickets.height
    email_events = _email_events(rng, people, contacts, start, days)
    frames: dict[tuple[str, str], pl.DataFrame] = {
        ("crm", "contacts"): contacts,
        ("crm", "tickets"): tickets,
        ("crm", "email_events"): email_events,
        ("pos", "order_lines"): lines,
    }
    if include_web:
        cookies = _cookies(rng, people)
        frames[("web", "events")], sessions = _web_events(
            rng, people, ids, lines, catalogue, cookies, start, days, counters.sessions
        )
        counters.sessions += sessions
    counters.persons += customers
    identifiers = _block_identifiers(frames, ids)
    for key, frame in list(frames.items()):
        if not frame.is_empty():
            frames[key] = plant_row_defects(rng, frame, key[1], defect_rate).with_columns(
                pl.lit(chunk, pl.Int32).alias("_chunk")
            )
    persons = _persons_truth(people, ids, start, days)
    orders_truth = order_truth.join(
        ids.select("_person", "person_id"), on="_person", how="left", maintain_order="left"
    ).select("order_id", "person_id", "channel", "ordered_at", "has_identifier")
    return frames, persons, orders_truth, identifiers


def _blocks(customers: int, chunk_customers: int) -> list[int]:
    """Block sizes: as few blocks as `chunk_customers` allows, sizes differing by at most one."""
    count = math.ceil(customers / chunk_customers)
    return [len(b) for b in np.array_split(np.arange(customers), count)]


def generate(
    out_dir: Path,
    customers: int = 2000,
    days: int = 365,
    end_date: date | None = None,
    seed: int = 42,
    defect_rate: float = 0.01,
    include_web: bool = True,
    chunk_customers: int = CHUNK_CUSTOMERS,
) -> GenerationSummary:
    """Write `<out_dir>/incoming/...` exports and `<out_dir>/sample_truth/` for one café chain.

    The same arguments write the same bytes; `chunk_customers` (customers per block, each block
    drawn from its own stream of `seed`) changes which customers are drawn, not the layout.
    """
    if customers < 1 or days < 1:
        raise ValueError(f"customers and days must be at least 1, found {customers} and {days}")
    if not 0 <= defect_rate <= 0.5:
        raise ValueError(f"defect_rate must be between 0 and 0.5, found {defect_rate}")
    if chunk_customers < 1:
        raise ValueError(f"chunk_customers must be at least 1, found {chunk_customers}")
    out_dir = Path(out_dir)
    end = end_date or (datetime.utcnow().date() - timedelta(days=1))
    start = end - timedelta(days=days - 1)
    catalogue = _catalogue(np.random.default_rng(seed + 1))
    phone_offset = int(np.random.default_rng(seed + 2).integers(0, 90_000_000))
    blocks = _blocks(customers, chunk_customers)
    streams = [
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(blocks) + 1)
    ]
    # days per window of the final pass, so that a window holds about WINDOW_ROWS rows
    window_days = max(1, int(WINDOW_ROWS / (customers * ROWS_PER_CUSTOMER_DAY)))

    summary = GenerationSummary(
        start_date=start,
        end_date=end,
        customers=customers,
        seed=seed,
        defect_rate=defect_rate,
        include_web=include_web,
        chunk_customers=chunk_customers,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    incoming = out_dir / "incoming"
    truth_dir = out_dir / "sample_truth"
    with tempfile.TemporaryDirectory(prefix=".sample-spool-", dir=out_dir) as spool_name:
        spool = Path(spool_name)
        counters = _Counters()
        persons: list[pl.DataFrame] = []
        days_present: dict[tuple[str, str], set[int]] = {}
        for chunk, size in enumerate(blocks):
            frames, block_persons, orders_truth, identifiers = _generate_block(
                streams[chunk],
                chunk,
                size,
                counters,
                catalogue,
                start,
                days,
                defect_rate,
                include_web,
                phone_offset,
            )
            persons.append(block_persons)
            orders_truth.write_parquet(spool / f"orders-{chunk:05d}.parquet")
            identifiers.write_parquet(spool / f"identifiers-{chunk:05d}.parquet")
            for (source, entity), frame in frames.items():
                if frame.is_empty():
                    continue
                days_present.setdefault((source, entity), set()).update(frame["_day"].unique())
                columns = [c for c in frame.columns if not c.startswith("_")] + SPOOL_COLUMNS
                windows = frame.select(columns).with_columns(
                    (pl.col("_day") // window_days).alias("_window")
                )
                for (window,), part in windows.partition_by(
                    "_window", as_dict=True, maintain_order=True
                ).items():
                    folder = spool / f"{source}_{entity}" / f"w{window:+06d}"
                    folder.mkdir(parents=True, exist_ok=True)
                    part.drop("_window").write_parquet(
                        folder / f"c{chunk:05d}.parquet", compression="lz4"
                    )
            del frames

        file_defects = choose_file_defects(
            streams[-1],
            {key: np.array(sorted(d), dtype=np.int64) for key, d in days_present.items()},
            defect_rate,
            start,
            ENTITY_FILES,
        )
        for source in ("crm", "pos", "web"):
            shutil.rmtree(incoming / source, ignore_errors=True)
        shutil.rmtree(truth_dir, ignore_errors=True)
        truth_dir.mkdir(parents=True, exist_ok=True)
        records = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for (source, entity), file_name in ENTITY_FILES.items():
                folder = spool / f"{source}_{entity}"
                if not folder.is_dir():
                    continue
                rows = files = 0
                for window in sorted(folder.iterdir(), key=lambda f: int(f.name[1:])):
                    frame = pl.concat(
                        [pl.read_parquet(f) for f in sorted(window.iterdir())],
                        how="diagonal_relaxed",
                    ).sort("_ts", "_chunk", "_seq", "_dup")
                    frame = assign_files(frame, source, entity, start, file_name, file_defects)
                    renamed = {
                        path: file_defects.renamed(source, entity, day)
                        for path, day in frame.select("_path", "_day").unique().iter_rows()
                        if file_defects.renamed(source, entity, day)
                    }
                    records.append(defect_records(frame, source, entity))
                    files += _write_files(pool, frame, incoming, renamed)
                    rows += frame.height
                summary.rows[f"{source}/{entity}"] = rows
                summary.files[f"{source}/{entity}"] = files
        records.append(file_defect_records(file_defects))
        defects = pl.concat(records)

        all_persons = pl.concat(persons)
        all_persons.write_parquet(truth_dir / "persons.parquet")
        pl.scan_parquet(sorted(spool.glob("orders-*.parquet"))).sink_parquet(
            truth_dir / "orders.parquet"
        )
        _shared_identifiers(sorted(spool.glob("identifiers-*.parquet"))).write_parquet(
            truth_dir / "identifiers.parquet"
        )
    defects.write_parquet(truth_dir / "defects.parquet")
    summary.defects = {
        row["defect_kind"]: row["count"]
        for row in defects.group_by("defect_kind")
        .len("count")
        .sort("defect_kind")
        .iter_rows(named=True)
    }
    counts = all_persons.group_by("persona").len()
    found = dict(counts.iter_rows())
    summary.personas = {name: int(found.get(name, 0)) for name in P.PERSONAS}
    (truth_dir / "summary.json").write_text(json.dumps(summary.to_json(), indent=2) + "\n")
    return summary


def _block_identifiers(
    frames: dict[tuple[str, str], pl.DataFrame], ids: pl.DataFrame
) -> pl.DataFrame:
    """Every identifier value exactly as written in a block's rows, with its true person."""
    columns = {
        ("crm", "contacts"): ["contact_id", "email", "phone", "loyalty_id"],
        ("crm", "tickets"): ["contact_id", "email"],
        ("crm", "email_events"): ["contact_id", "email"],
        ("pos", "order_lines"): [("customer_id", "contact_id"), "email", "phone", "loyalty_id"],
        ("web", "events"): [("user_id", "contact_id"), "user_pseudo_id"],
    }
    parts = []
    for key, cols in columns.items():
        frame = frames.get(key)
        if frame is None or frame.is_empty():
            continue
        for col in cols:
            name, kind = (col, col) if isinstance(col, str) else col
            parts.append(
                frame.select(
                    "_person",
                    pl.lit(kind).alias("identifier_type"),
                    pl.col(name).alias("identifier_value"),
                )
                .drop_nulls()
                .unique()
            )
    return (
        pl.concat(parts)
        .unique()
        .join(ids.select("_person", "person_id"), on="_person")
        .select("person_id", "identifier_type", "identifier_value")
    )


def _shared_identifiers(parts: list[Path]) -> pl.DataFrame:
    """All blocks' identifiers with `is_shared`: the value (ignoring case) has several persons."""
    values = pl.scan_parquet(parts).with_columns(
        pl.col("identifier_value").str.to_lowercase().alias("_lower")
    )
    shared = values.group_by("identifier_type", "_lower").agg(
        (pl.col("person_id").n_unique() > 1).alias("is_shared")
    )
    return (
        values.join(shared, on=["identifier_type", "_lower"])
        .select("person_id", "identifier_type", "identifier_value", "is_shared")
        .sort("person_id", "identifier_type", "identifier_value")
        .collect()
    )
