"""KPIs per segment against a hand computation on the fixture's Champions (c01, c02)."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from pipelines.publish.config import KpiWindows, load_publishing_config
from tests.publish.fixture_warehouse import FIRST_AS_OF, SECOND_AS_OF, write_candidates

KPI_COLUMNS = (
    "customers, share, revenue_share, avg_order_value, purchase_frequency, historical_clv, "
    "retention_rate, churn_rate, web_to_purchase_conversion, sessions_per_customer, "
    "email_clicks_per_customer, avg_satisfaction"
)


def test_champions_kpis_equal_a_hand_computation(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    config = dataclasses.replace(
        load_publishing_config(), kpis=KpiWindows(activity_window_days=30, revenue_window_days=365)
    )
    publish(config=config)

    [row] = site.rows(
        f"select {KPI_COLUMNS} from segments.segment_kpis "
        "where segment_type = 'rfm_segment' and segment = 'Champions'"
    )
    kpis = dict(zip([c.strip() for c in KPI_COLUMNS.split(",")], row, strict=True))
    # Orders before 2025-06-08 in the last 365 days: c01 20 + 30 + 10 (the 50 on 06-08 is too
    # late), c02 40 and a -10 return. All published customers in that window: 190.
    assert kpis["customers"] == 2
    assert kpis["share"] == pytest.approx(2 / 13)
    assert kpis["revenue_share"] == pytest.approx(90 / 190)
    assert kpis["avg_order_value"] == pytest.approx(90 / 4)  # the return is not an order
    assert kpis["purchase_frequency"] == pytest.approx(4 / 2)
    assert kpis["historical_clv"] == pytest.approx((60 + 30) / 2)
    # both bought between 04-09 and 05-09; only c01 bought again from 05-09
    assert kpis["retention_rate"] == pytest.approx(0.5)
    assert kpis["churn_rate"] == pytest.approx(0.5)
    # sessions from 05-09 to 06-07: c01 three (one with a purchase), c02 one
    assert kpis["web_to_purchase_conversion"] == pytest.approx(1 / 4)
    assert kpis["sessions_per_customer"] == pytest.approx(4 / 2)
    assert kpis["email_clicks_per_customer"] == pytest.approx((4 + 2) / 2)
    assert kpis["avg_satisfaction"] == pytest.approx(5.0)  # c02 never rated


def test_lifetime_value_counts_orders_older_than_every_window(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    config = dataclasses.replace(
        load_publishing_config(), kpis=KpiWindows(activity_window_days=30, revenue_window_days=90)
    )
    publish(config=config)

    [(customers, window_revenue_share, historical_clv)] = site.rows(
        "select customers, revenue_share, historical_clv from segments.segment_kpis "
        "where segment_type = 'rfm_segment' and segment = 'Lost'"
    )
    # c09 bought once, for 11, in 2023; c10 never: nothing in the windows, 11 in a lifetime
    assert customers == 2
    assert window_revenue_share == 0
    assert historical_clv == pytest.approx((11 + 0) / 2)


def test_shares_of_a_segment_type_add_up_to_one(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    publish()
    totals = site.rows(
        "select segment_type, sum(share), sum(revenue_share), sum(customers) "
        "from segments.segment_kpis group by segment_type"
    )
    assert len(totals) == 6
    for segment_type, share, revenue_share, customers in totals:
        assert customers == 13, segment_type
        assert share == pytest.approx(1.0), segment_type
        assert revenue_share == pytest.approx(1.0), segment_type


def test_a_kpi_added_later_becomes_a_column_and_earlier_dates_stay(site, publish):
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish()
    # an older release's table: without the satisfaction column
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute("alter table segments.segment_kpis drop column avg_satisfaction")
    write_candidates(site.warehouse, SECOND_AS_OF)
    publish()

    assert site.rows(
        "select as_of_date, avg_satisfaction from segments.segment_kpis "
        "where segment_type = 'rfm_segment' and segment = 'Champions' order by as_of_date"
    ) == [(FIRST_AS_OF, None), (SECOND_AS_OF, 5.0)]
