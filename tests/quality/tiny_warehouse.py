"""A tiny warehouse written by the tests: POS order lines over a few days, features, segments."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

FIRST_DAY = date(2025, 3, 1)
DAYS = 8  # 7 days of history before the day under test
LINES_PER_DAY = 20


def order_lines_sql(day: date, *, null_customer_share: float = 0.0, price_sign: int = 1) -> str:
    """One day of POS lines; `null_customer_share` of them anonymous, prices flipped if asked."""
    anonymous = round(LINES_PER_DAY * null_customer_share)
    return f"""
        select 'o-{day}-' || i as order_id, 1 as line_number,
               timestamp '{day} 09:00:00' + to_minutes(i::bigint) as ordered_at,
               case when i % 4 = 0 then 'online' else 'in_store' end as channel,
               case when i % 4 = 0 then null else 'store1' end as store_id,
               case when i < {anonymous} then null else 'c' || (i % 7) end as customer_id,
               null::varchar as loyalty_id, null::varchar as email, null::varchar as phone,
               'sku' || (i % 3) as sku, 'coffee' as category_code, 1 as quantity,
               {price_sign} * 3.5 as unit_price, 0.0 as discount_amount,
               date '{day}' as _partition_date, 'order_lines_{day}.csv' as _source_file,
               i + 1 as _source_row, timestamp '{day} 23:00:00' as _loaded_at
        from range({LINES_PER_DAY}) t(i)
    """


def write_order_lines(
    path: Path,
    *,
    last_day_null_share: float = 0.0,
    last_day_sign: int = 1,
    usual_null_share: float = 0.0,
) -> date:
    """Seven ordinary days, then a last day as asked; returns the last day."""
    days = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
    parts = [order_lines_sql(d, null_customer_share=usual_null_share) for d in days[:-1]]
    parts.append(
        order_lines_sql(days[-1], null_customer_share=last_day_null_share, price_sign=last_day_sign)
    )
    with duckdb.connect(str(path)) as con:
        con.sql("create schema if not exists raw")
        con.sql("create or replace table raw.pos_order_lines as " + " union all ".join(parts))
        con.sql(
            "create or replace table raw.quarantine (source varchar, entity varchar, "
            "partition_date date, source_file varchar, source_row integer, reason varchar, "
            "detail varchar, original_values json, loaded_at timestamp)"
        )
    return days[-1]


def write_features_and_segments(path: Path, *, customers: int = 12) -> None:
    """Two weekly feature snapshots and the candidate segments of the latest one."""
    with duckdb.connect(str(path)) as con:
        con.sql("create schema if not exists marts")
        con.sql("create schema if not exists candidate")
        con.sql(
            f"""
            create or replace table marts.customer_features as
            select 'k' || i as customer_key, d.as_of_date,
                   (i % 30 + 1)::integer as recency_days, (i % 5 + 1)::bigint as frequency,
                   (i % 5 + 1)::bigint as frequency_365d, least(i % 3, i % 5 + 1)::bigint as frequency_90d,
                   (20.0 + i) as monetary, 100 + i as tenure_days
            from range({customers}) t(i)
            cross join (values (date '2025-03-02'), (date '2025-03-09')) d(as_of_date)
            """
        )
        con.sql(
            """
            create or replace table candidate.customer_segments as
            select customer_key, as_of_date,
                   case when frequency >= 3 then 'Loyal' else 'Need attention' end as rfm_segment,
                   (frequency % 2)::integer as cluster_id,
                   'Cluster ' || (frequency % 2) as cluster_name
            from marts.customer_features where as_of_date = date '2025-03-09'
            """
        )
