"""A hand-written café warehouse: 13 customers, two weekly as-of dates, and their candidates.

Between the two dates c03 falls from Loyal to At risk (and from active to lapsing), c11 moves from
New customers to Promising, and c13 appears for the first time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

FIRST_AS_OF = date(2025, 6, 1)
SECOND_AS_OF = date(2025, 6, 8)

# customer_key, first_name, email, marketing_consent
CUSTOMERS = [
    ("c01", "Ada", "ada@example.com", True),
    ("c02", "Ben", "ben@example.com", False),  # no consent although an address is on file
    ("c03", "Cleo", "cleo@example.com", True),
    ("c04", "Dan", "dan@example.com", False),
    ("c05", "Eve", "eve@example.com", True),
    ("c06", "Finn", None, True),  # consented but no address: nothing to send to
    ("c07", "Gus", "gus@example.com", True),
    ("c08", "Hana", "hana@example.com", False),
    ("c09", "Ivo", "ivo@example.com", True),
    ("c10", "Jo", "jo@example.com", False),
    ("c11", "Kai", "kai@example.com", True),
    ("c12", "Lea", "lea@example.com", False),
    ("c13", "Max", "max@example.com", True),
]

# customer_key, ordered_at, net_revenue, is_return
ORDERS = [
    ("c01", "2025-04-15 08:10", 20.0, False),
    ("c01", "2025-05-20 08:15", 30.0, False),
    ("c01", "2025-06-07 08:05", 10.0, False),
    ("c01", "2025-06-08 09:00", 50.0, False),  # on the as-of day itself: not yet counted
    ("c02", "2025-04-20 12:00", 40.0, False),
    ("c02", "2025-04-25 12:00", -10.0, True),
    ("c03", "2025-03-01 10:00", 25.0, False),
    ("c04", "2025-05-30 16:00", 15.0, False),
    ("c05", "2024-12-01 09:00", 12.0, False),
    ("c06", "2025-01-10 09:00", 18.0, False),
    ("c07", "2024-11-11 09:00", 9.0, False),
    ("c08", "2024-06-01 09:00", 14.0, False),
    ("c09", "2023-12-01 09:00", 11.0, False),
    ("c11", "2025-06-02 07:30", 8.0, False),
    ("c12", "2025-06-05 07:30", 6.0, False),
    ("c13", "2025-06-07 07:30", 7.0, False),
    (None, "2025-06-01 11:00", 100.0, False),  # an anonymous walk-in
]

# customer_key, started_at, purchases
SESSIONS = [
    ("c01", "2025-04-01 20:00", 0),  # before both activity windows of the tests
    ("c01", "2025-05-20 07:50", 1),
    ("c01", "2025-05-25 21:00", 0),
    ("c01", "2025-06-01 21:00", 0),
    ("c01", "2025-06-08 07:00", 1),  # on the as-of day: not yet counted
    ("c02", "2025-05-15 13:00", 0),
    ("c04", "2025-05-29 18:00", 0),
    ("c12", "2025-06-05 07:00", 1),
]

# per as-of date: customer_key -> (rfm_segment, frequency_tier, lifecycle_stage, web_behaviour,
# category_preference, cluster_id, cluster_name)
FIRST_SEGMENTS = {
    "c01": (
        "Champions",
        "high",
        "active",
        "Frequent browsers",
        "Coffee lovers",
        0,
        "Morning regulars",
    ),
    "c02": (
        "Champions",
        "high",
        "active",
        "Frequent browsers",
        "Coffee lovers",
        0,
        "Morning regulars",
    ),
    "c03": ("Loyal", "medium", "active", "Frequent browsers", "Pastry fans", 0, "Morning regulars"),
    "c04": ("Loyal", "medium", "active", "Cart abandoners", "Pastry fans", 1, "Weekend treats"),
    "c05": (
        "Need attention",
        "low",
        "lapsing",
        "Cart abandoners",
        "Coffee lovers",
        1,
        "Weekend treats",
    ),
    "c06": (
        "At risk",
        "medium",
        "lapsing",
        "First-time visitors",
        "Coffee lovers",
        1,
        "Weekend treats",
    ),
    "c07": ("At risk", "low", "lapsing", "First-time visitors", "Pastry fans", 2, "Occasional"),
    "c08": ("Hibernating", "low", "lapsed", "First-time visitors", "Pastry fans", 2, "Occasional"),
    "c09": ("Lost", "low", "lapsed", "No web visits", "Coffee lovers", 2, "Occasional"),
    "c10": ("Lost", "low", "lapsed", "No web visits", "Coffee lovers", 2, "Occasional"),
    "c11": ("New customers", "low", "new", "No web visits", "Pastry fans", 3, "Newcomers"),
    "c12": ("New customers", "low", "new", "First-time visitors", "Coffee lovers", 3, "Newcomers"),
}
SECOND_SEGMENTS = {
    **FIRST_SEGMENTS,
    "c03": (
        "At risk",
        "medium",
        "lapsing",
        "Frequent browsers",
        "Pastry fans",
        0,
        "Morning regulars",
    ),
    "c11": ("Promising", "low", "new", "No web visits", "Pastry fans", 3, "Newcomers"),
    "c13": ("New customers", "low", "new", "No web visits", "Coffee lovers", 3, "Newcomers"),
}
SEGMENTS_BY_DATE = {FIRST_AS_OF: FIRST_SEGMENTS, SECOND_AS_OF: SECOND_SEGMENTS}

# the membership history as the tests compare it
HISTORY = (
    "select customer_key, segment_type, segment, valid_from, valid_to "
    "from segments.segment_membership_history order by all"
)

# email_clicks_90d and avg_satisfaction of the latest features (others: 0 clicks, no tickets)
ENGAGEMENT = {"c01": (4, 5.0), "c02": (2, None), "c03": (1, 3.0)}


def _values(rows: list[tuple]) -> str:
    def literal(value: object) -> str:
        if value is None:
            return "null"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return str(value)

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)


def _lifetime_revenue(customer_key: str, as_of: date) -> float:
    """`monetary` as the features mart has it: net revenue of the customer's orders before `as_of`."""
    return sum(
        net for key, ordered_at, net, _ in ORDERS if key == customer_key and ordered_at < str(as_of)
    )


def write_marts(path: Path) -> None:
    """marts.customers, orders, web_sessions and customer_features for both as-of dates."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            f"""
            create or replace table marts.customers as
            select * from (values {_values(CUSTOMERS)})
                as t(customer_key, first_name, email, marketing_consent)
            """
        )
        con.execute(
            f"""
            create or replace table marts.orders as
            select 'o' || row_number() over () as order_id, customer_key,
                   ordered_at::timestamp as ordered_at, ordered_at::date as order_date,
                   'in_store' as channel, net_revenue::double as net_revenue, is_return
            from (values {_values(ORDERS)}) as t(customer_key, ordered_at, net_revenue, is_return)
            """
        )
        con.execute(
            f"""
            create or replace table marts.web_sessions as
            select 's' || row_number() over () as session_key, customer_key,
                   started_at::timestamp as started_at, purchases
            from (values {_values(SESSIONS)}) as t(customer_key, started_at, purchases)
            """
        )
        feature_rows = []
        for as_of, segments in SEGMENTS_BY_DATE.items():
            for n, key in enumerate(sorted(segments), start=1):
                clicks, satisfaction = ENGAGEMENT.get(key, (0, None))
                feature_rows.append(
                    (
                        key,
                        str(as_of),
                        10 * n,
                        n % 4 + 1,
                        _lifetime_revenue(key, as_of),
                        6.0 + n,
                        n / 20,
                        2 * n,
                        clicks,
                        satisfaction,
                    )
                )
        con.execute(
            f"""
            create or replace table marts.customer_features as
            select customer_key, as_of_date::date as as_of_date, recency_days, frequency,
                   frequency as frequency_365d, monetary::double as monetary,
                   avg_order_value::double as avg_order_value, online_share::double as online_share,
                   0.1 as discount_share, web_sessions_90d, 100 + recency_days as tenure_days,
                   email_clicks_90d, avg_satisfaction::double as avg_satisfaction
            from (values {_values(feature_rows)}) as t(customer_key, as_of_date, recency_days,
                frequency, monetary, avg_order_value, online_share, web_sessions_90d,
                email_clicks_90d, avg_satisfaction)
            """
        )


def write_candidates(path: Path, as_of: date, *, with_profiles: bool = True) -> None:
    """candidate.customer_segments (and segment_profiles) as segmentation writes them for `as_of`."""
    rows = [
        (key, str(as_of), 3, 3, 3, *segments)
        for key, segments in sorted(SEGMENTS_BY_DATE[as_of].items())
    ]
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists candidate")
        con.execute(
            f"""
            create or replace table candidate.customer_segments as
            select customer_key, as_of_date::date as as_of_date, r_score::tinyint as r_score,
                   f_score::tinyint as f_score, m_score::tinyint as m_score, rfm_segment,
                   frequency_tier, lifecycle_stage, web_behaviour, category_preference,
                   cluster_id::integer as cluster_id, cluster_name
            from (values {_values(rows)}) as t(customer_key, as_of_date, r_score, f_score,
                m_score, rfm_segment, frequency_tier, lifecycle_stage, web_behaviour,
                category_preference, cluster_id, cluster_name)
            """
        )
        con.execute("drop table if exists candidate.segment_profiles")
        if with_profiles:
            con.execute(
                """
                create table candidate.segment_profiles as
                select segment_type, segment, description, rules, customers
                from (values
                    ('rfm_segment', 'Champions', 'Bought recently and often', 'r_score >= 4 and f_score >= 4', 2),
                    ('cluster_name', 'Morning regulars', 'Early weekday coffee', 'recency_days <= 30', 3)
                ) as t(segment_type, segment, description, rules, customers)
                """
            )


def write_predictions(path: Path, as_of: date) -> None:
    """candidate.customer_predictions for every candidate customer of `as_of`."""
    rows = [
        (
            key,
            str(as_of),
            1.0,
            3.0,
            0.9 if key < "c07" else 0.3,
            40.0,
            "high" if key < "c04" else "low",
            0.1 if key < "c07" else 0.7,
            "low" if key < "c07" else "high",
            "Growing" if key < "c07" else "Fading",
        )
        for key in sorted(SEGMENTS_BY_DATE[as_of])
    ]
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"""
            create or replace table candidate.customer_predictions as
            select customer_key, as_of_date::date as as_of_date, expected_purchases_90d,
                   expected_purchases_365d, p_alive, clv_12m, value_tier, churn_probability,
                   churn_risk_band, predictive_segment
            from (values {_values(rows)}) as t(customer_key, as_of_date, expected_purchases_90d,
                expected_purchases_365d, p_alive, clv_12m, value_tier, churn_probability,
                churn_risk_band, predictive_segment)
            """
        )
