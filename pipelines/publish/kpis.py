"""KPIs per segment, measured point in time: only orders and sessions strictly before the as-of date.

With `A` = activity window and `R` = revenue window (days, from publishing.yaml), per segment:

- customers, share: members, and members / all published customers
- revenue_share: net revenue of the last R days from members / from all published customers
- avg_order_value: net revenue of the last R days / orders of the last R days (returns excluded
  from the count, their refunds included in the revenue, as in `marts.customer_features`)
- purchase_frequency: orders of the last R days per member
- historical_clv: average lifetime net revenue per member (members without orders count as 0),
  the features snapshot's `monetary`: the sum of the same orders, which the daily run has
  already made per customer, so the KPIs read only the orders of their windows
- retention_rate: of members who ordered in the A days before the last A days, the share who
  ordered again in the last A days; churn_rate = 1 - retention_rate (null when nobody was active)
- web_to_purchase_conversion: sessions of the last A days with a purchase / sessions
- sessions_per_customer: sessions of the last A days per member
- email_clicks_per_customer, avg_satisfaction: averages of the members' latest features (null
  where the email or ticket source is absent)
"""

from __future__ import annotations

from datetime import date

import duckdb

from pipelines.publish.config import KpiWindows
from pipelines.publish.features import features_snapshot, snapshot_features_sql

OPTIONAL_FEATURES = ("email_clicks_90d", "avg_satisfaction")


def _feature_columns(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Select expressions for the optional features: the column, or null when the mart lacks it."""
    present = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'customer_features'"
        ).fetchall()
    }
    return {
        name: f"features.{name}::double" if name in present else "null::double"
        for name in OPTIONAL_FEATURES
    }


def segment_kpis_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The KPI query over `publish_memberships`; parameters $as_of, $activity_days, $revenue_days
    and $features_as_of (`features_snapshot`)."""
    features = _feature_columns(con)
    latest_features = snapshot_features_sql(
        "features.customer_key::varchar as customer_key, "
        "features.monetary::double as lifetime_revenue, "
        f"{features['email_clicks_90d']} as email_clicks_90d, "
        f"{features['avg_satisfaction']} as avg_satisfaction"
    )
    return f"""
        with
        published as (
            select customer_key::varchar as customer_key from segments.customer_segments
        ),
        orders as (
            select customer_key::varchar as customer_key, ordered_at, net_revenue, is_return
            from marts.orders
            where customer_key is not null and ordered_at < $as_of::timestamp
                and ordered_at >= $as_of::timestamp
                    - to_days(greatest($revenue_days, 2 * $activity_days))
        ),
        order_facts as (
            select
                published.customer_key,
                coalesce(sum(orders.net_revenue) filter (where orders.ordered_at
                    >= $as_of::timestamp - to_days($revenue_days)), 0) as window_revenue,
                count(orders.ordered_at) filter (where not orders.is_return and orders.ordered_at
                    >= $as_of::timestamp - to_days($revenue_days)) as window_orders,
                coalesce(bool_or(not orders.is_return
                    and orders.ordered_at >= $as_of::timestamp - to_days(2 * $activity_days)
                    and orders.ordered_at < $as_of::timestamp - to_days($activity_days)), false)
                    as active_previous_window,
                coalesce(bool_or(not orders.is_return
                    and orders.ordered_at >= $as_of::timestamp - to_days($activity_days)), false)
                    as active_current_window
            from published
            left join orders on orders.customer_key = published.customer_key
            group by published.customer_key
        ),
        session_facts as (
            select
                customer_key::varchar as customer_key,
                count(*) as sessions,
                count(*) filter (where purchases > 0) as converting_sessions
            from marts.web_sessions
            where customer_key is not null
                and started_at >= $as_of::timestamp - to_days($activity_days)
                and started_at < $as_of::timestamp
            group by customer_key
        ),
        latest_features as ({latest_features}),
        totals as (
            select count(*) as customers, sum(window_revenue) as window_revenue from order_facts
        ),
        per_segment as (
            select
                members.segment_type,
                members.segment,
                count(*) as customers,
                sum(order_facts.window_revenue) as window_revenue,
                sum(order_facts.window_orders) as window_orders,
                avg(coalesce(latest_features.lifetime_revenue, 0)) as historical_clv,
                count(*) filter (where order_facts.active_previous_window) as active_before,
                count(*) filter (where order_facts.active_previous_window
                    and order_facts.active_current_window) as retained,
                coalesce(sum(session_facts.sessions), 0) as sessions,
                coalesce(sum(session_facts.converting_sessions), 0) as converting_sessions,
                avg(latest_features.email_clicks_90d) as email_clicks_per_customer,
                avg(latest_features.avg_satisfaction) as avg_satisfaction
            from publish_memberships as members
            inner join order_facts on order_facts.customer_key = members.customer_key
            left join session_facts on session_facts.customer_key = members.customer_key
            left join latest_features on latest_features.customer_key = members.customer_key
            group by members.segment_type, members.segment
        )
        select
            $as_of::date as as_of_date,
            per_segment.segment_type,
            per_segment.segment,
            per_segment.customers,
            per_segment.customers / totals.customers as share,
            per_segment.window_revenue / nullif(totals.window_revenue, 0) as revenue_share,
            per_segment.window_revenue / nullif(per_segment.window_orders, 0) as avg_order_value,
            per_segment.window_orders / per_segment.customers as purchase_frequency,
            per_segment.historical_clv,
            per_segment.retained / nullif(per_segment.active_before, 0) as retention_rate,
            1 - per_segment.retained / nullif(per_segment.active_before, 0) as churn_rate,
            per_segment.converting_sessions / nullif(per_segment.sessions, 0)
                as web_to_purchase_conversion,
            per_segment.sessions / per_segment.customers as sessions_per_customer,
            per_segment.email_clicks_per_customer,
            per_segment.avg_satisfaction,
            $activity_days::integer as activity_window_days,
            $revenue_days::integer as revenue_window_days
        from per_segment
        cross join totals
        order by per_segment.segment_type, per_segment.customers desc, per_segment.segment
    """


def write_segment_kpis(con: duckdb.DuckDBPyConnection, as_of: date, windows: KpiWindows) -> None:
    """Replace the KPI rows of `as_of` in `segments.segment_kpis` (earlier dates are kept)."""
    params = {
        "as_of": as_of,
        "activity_days": windows.activity_window_days,
        "revenue_days": windows.revenue_window_days,
        "features_as_of": features_snapshot(con, as_of),
    }
    con.execute(f"create or replace temp table publish_kpis as {segment_kpis_sql(con)}", params)
    con.execute("create table if not exists segments.segment_kpis as from publish_kpis limit 0")
    # a KPI added in a later release becomes a new column; earlier dates keep null there
    new_columns = con.execute(
        """
        select column_name, data_type from duckdb_columns()
        where database_name = 'temp' and table_name = 'publish_kpis'
            and column_name not in (
                select column_name from duckdb_columns()
                where database_name <> 'temp' and schema_name = 'segments'
                    and table_name = 'segment_kpis'
            )
        order by column_index
        """
    ).fetchall()
    for column, data_type in new_columns:
        con.execute(f"alter table segments.segment_kpis add column {column} {data_type}")
    con.execute("delete from segments.segment_kpis where as_of_date = $as_of", {"as_of": as_of})
    con.execute("insert into segments.segment_kpis by name select * from publish_kpis")
    con.execute("drop table publish_kpis")
