"""The customer_features suite on 1M customers stays fast because it runs inside DuckDB.

Slow (kept out of `make test`): `pytest -m slow tests/quality/test_scale.py -s` prints the timing.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from pipelines.quality.validate import targets, validate_target

CUSTOMERS = 1_000_000


def write_features(path: Path, customers: int) -> None:
    """Two weekly snapshots of `customers` synthetic customers with every contract feature."""
    with duckdb.connect(str(path)) as con:
        con.sql("create schema marts")
        con.sql(
            f"""
            create table marts.customer_features as
            select 'k' || i as customer_key, d.as_of_date,
                   timestamp '2024-01-01' + to_days((i % 400)::bigint) as first_order_at,
                   timestamp '2025-01-01' + to_days((i % 60)::bigint) as last_order_at,
                   (i % 365 + 1)::integer as recency_days,
                   (i % 20 + 1)::bigint as frequency, least(i % 4, i % 20 + 1)::bigint as frequency_90d,
                   least(i % 12 + 1, i % 20 + 1)::bigint as frequency_365d,
                   (i % 900) * 1.5 + 5 as monetary, (i % 90) * 1.0 as monetary_90d,
                   (i % 400) * 1.0 as monetary_365d, 5 + (i % 40) * 1.0 as avg_order_value,
                   (i % 700 + 1)::integer as tenure_days, (i % 50) * 1.0 as mean_days_between_orders,
                   'coffee' as top_category, ((i % 10) / 10.0)::double as top_category_share,
                   ((i % 5) / 5.0)::double as online_share, ((i % 3) / 10.0)::double as discount_share,
                   ((i % 7) / 20.0)::double as return_rate,
                   (i % 6)::integer as web_sessions_30d, (i % 15)::integer as web_sessions_90d,
                   (i % 30)::integer as page_views_30d, (i % 80)::integer as page_views_90d,
                   (i % 9)::integer as product_views_30d, (i % 4)::integer as add_to_carts_30d,
                   (i % 2)::integer as cart_abandonments_30d,
                   (i % 100)::integer as days_since_last_visit, i % 11 = 0 as is_first_time_visitor,
                   (i % 3)::integer as support_tickets_365d, 1 + (i % 5)::double as avg_satisfaction,
                   (i % 12)::integer as email_opens_90d, (i % 4)::integer as email_clicks_90d
            from range({customers}) t(i)
            cross join (values (date '2025-03-02'), (date '2025-03-09')) d(as_of_date)
            """
        )


@pytest.mark.slow
def test_customer_features_suite_on_a_million_customers(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_features(warehouse, CUSTOMERS)
    features = next(t for t in targets() if t.kind == "features")
    import great_expectations  # noqa: F401  # importing GX takes seconds once per process; not timed

    started = time.perf_counter()
    report = validate_target(features, warehouse, docs_dir=tmp_path / "docs")
    seconds = time.perf_counter() - started

    print(f"\ncustomer_features suite on {report.row_count:,} rows: {seconds:.1f} s")
    assert report.row_count == CUSTOMERS
    assert [o.as_metadata() for o in report.failed("ERROR")] == []
    assert seconds < 60
