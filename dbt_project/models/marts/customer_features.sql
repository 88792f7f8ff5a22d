{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        post_hook="delete from {{ this }} where as_of_date < (select max(as_of_date) from {{ ref('int_feature_snapshot_dates') }}) and as_of_date not in (select as_of_date from {{ ref('int_feature_snapshot_dates') }})",
    )
}}
{#- One row per customer per as-of date. Point in time: every feature as of day D is computed
    from events strictly before D (timestamps < D at midnight). A source with no rows before D
    gives nulls for its features; with rows, a customer without activity in it gets zero counts. -#}

with

all_snapshot_dates as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
),

snapshot_dates as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
    {% if is_incremental() %}
    -- only the snapshots not yet in the history, and the latest day (recomputed)
    where is_latest or as_of_date not in (select distinct as_of_date from {{ this }})
    {% endif %}
),

customers as (
    select customer_key, first_seen_at from {{ ref('customers') }}
),

orders as (
    select * from {{ ref('orders') }}
),

web_sessions as (
    select * from {{ ref('web_sessions') }}
),

tickets as (
    select * from {{ ref('int_tickets_resolved') }}
),

email_events as (
    select * from {{ ref('int_email_events_resolved') }}
),

category_spend as (
    select * from {{ ref('customer_category_spend') }}
    where as_of_date in (select as_of_date from snapshot_dates)
),

customers_as_of as (
    -- a customer exists as of D once first seen before D
    select customers.customer_key, snapshot_dates.as_of_date, customers.first_seen_at
    from customers
    inner join snapshot_dates on customers.first_seen_at < snapshot_dates.as_of_date
),

sources_as_of as (
    -- which sources had delivered anything before D: the rest give nulls, not zeros
    select
        snapshot_dates.as_of_date,
        exists (select 1 from orders where orders.ordered_at < snapshot_dates.as_of_date)
            as has_orders_source,
        exists (select 1 from web_sessions where web_sessions.ended_at < snapshot_dates.as_of_date)
            as has_web_source,
        exists (select 1 from tickets where tickets.created_at < snapshot_dates.as_of_date)
            as has_tickets_source,
        exists (
            select 1 from email_events where email_events.occurred_at < snapshot_dates.as_of_date
        ) as has_email_source
    from snapshot_dates
),

-- Point in time for orders and web sessions: joining every order (session) to every later
-- snapshot and aggregating per customer and snapshot is about a billion rows at tier L (1M
-- customers, two years, 105 snapshots), more than the memory cap. Instead each order is placed
-- once at the first snapshot that sees it (ordered_at < as_of_date), and its feature values
-- become running totals per customer over the snapshots. A rolling window (90 or 365 days) is
-- the same running total minus the orders that have left the window: an order ordered at t
-- leaves the 90-day window of D once t < D - 90 days, so it is placed a second time, with the
-- opposite sign, at the first snapshot with t + 90 days < as_of_date. Money is summed as
-- decimal(18, 4) (the amounts are cents) so an order and its leaving cancel to exactly 0.
-- A customer's totals hold from the snapshot where they change until the next change
-- (changes_at); the range join on [changes_from, changes_at) gives one row per snapshot built.
order_windows as (
    select
        orders.customer_key,
        orders.is_return,
        orders.ordered_at,
        orders.order_date,
        orders.channel,
        orders.lines,
        orders.returned_lines,
        cast(orders.net_revenue as decimal(18, 4)) as net_revenue,
        cast(orders.gross_revenue as decimal(18, 4)) as gross_revenue,
        cast(orders.discount_amount as decimal(18, 4)) as discount_amount,
        visible.as_of_date as visible_from,
        out_of_90d.as_of_date as leaves_90d_from,
        out_of_365d.as_of_date as leaves_365d_from
    from orders
    asof inner join all_snapshot_dates as visible
        on orders.ordered_at < visible.as_of_date
    asof left join all_snapshot_dates as out_of_90d
        on orders.ordered_at + interval 90 day < out_of_90d.as_of_date
    asof left join all_snapshot_dates as out_of_365d
        on orders.ordered_at + interval 365 day < out_of_365d.as_of_date
    where orders.customer_key is not null
),

order_changes as (
    -- what each order adds at the snapshot that first sees it
    select
        customer_key,
        visible_from as changes_from,
        case when not is_return then ordered_at end as purchase_at,
        case when not is_return then order_date end as purchase_date,
        cast(not is_return as integer) as purchases,
        cast(not is_return as integer) as purchases_90d,
        cast(not is_return as integer) as purchases_365d,
        net_revenue,
        net_revenue as net_revenue_90d,
        net_revenue as net_revenue_365d,
        case when not is_return then net_revenue end as purchase_revenue,
        cast(not is_return and channel = 'online' as integer) as online_orders,
        -- when they buy, on the shop's local clock (ordered_at has no time zone): isodow 6 and 7
        -- are Saturday and Sunday; the morning ends at 11:00
        cast(not is_return and isodow(ordered_at) in (6, 7) as integer) as weekend_orders,
        cast(not is_return and hour(ordered_at) < 11 as integer) as morning_orders,
        case when not is_return then gross_revenue end as purchase_gross_revenue,
        case when not is_return then discount_amount end as purchase_discount,
        lines,
        returned_lines
    from order_windows
    union all
    -- what it takes away from the 90-day window once it is older than that
    select
        customer_key, leaves_90d_from, null, null, 0,
        -cast(not is_return as integer), 0, 0, -net_revenue, 0, null, 0, 0, 0, null, null, 0, 0
    from order_windows
    where leaves_90d_from is not null
    union all
    -- and from the 365-day window
    select
        customer_key, leaves_365d_from, null, null, 0,
        0, -cast(not is_return as integer), 0, 0, -net_revenue, null, 0, 0, 0, null, null, 0, 0
    from order_windows
    where leaves_365d_from is not null
),

order_running as (
    select
        customer_key,
        changes_from,
        coalesce(lead(changes_from) over per_customer, date '9999-12-31') as changes_at,
        min(first_order_at) over per_customer as first_order_at,
        max(last_order_at) over per_customer as last_order_at,
        min(first_order_date) over per_customer as first_order_date,
        max(last_order_date) over per_customer as last_order_date,
        {%- for column in ['frequency', 'frequency_90d', 'frequency_365d', 'online_orders',
                           'weekend_orders', 'morning_orders'] %}
        cast(sum({{ column }}) over per_customer as bigint) as {{ column }},
        {%- endfor %}
        {%- for column in ['monetary', 'monetary_90d', 'monetary_365d', 'purchase_revenue',
                           'purchase_gross_revenue', 'purchase_discount'] %}
        cast(sum({{ column }}) over per_customer as double) as {{ column }},
        {%- endfor %}
        sum(lines) over per_customer as lines,
        sum(returned_lines) over per_customer as returned_lines
    from (
        select
            customer_key,
            changes_from,
            min(purchase_at) as first_order_at,
            max(purchase_at) as last_order_at,
            min(purchase_date) as first_order_date,
            max(purchase_date) as last_order_date,
            sum(purchases) as frequency,
            sum(purchases_90d) as frequency_90d,
            sum(purchases_365d) as frequency_365d,
            sum(net_revenue) as monetary,
            sum(net_revenue_90d) as monetary_90d,
            sum(net_revenue_365d) as monetary_365d,
            sum(purchase_revenue) as purchase_revenue,
            sum(online_orders) as online_orders,
            sum(weekend_orders) as weekend_orders,
            sum(morning_orders) as morning_orders,
            sum(purchase_gross_revenue) as purchase_gross_revenue,
            sum(purchase_discount) as purchase_discount,
            sum(lines) as lines,
            sum(returned_lines) as returned_lines
        from order_changes
        group by customer_key, changes_from
    )
    window per_customer as (
        partition by customer_key order by changes_from
        rows between unbounded preceding and current row
    )
),

order_facts as (
    -- a customer has a row from the first snapshot that sees one of their orders
    select order_running.* exclude (changes_from, changes_at), snapshot_dates.as_of_date
    from order_running
    inner join snapshot_dates
        on snapshot_dates.as_of_date >= order_running.changes_from
        and snapshot_dates.as_of_date < order_running.changes_at
),

-- The same for web sessions, with one difference: a session counts once it is over (ended_at
-- < D: one crossing midnight into D is not before D) but the windows are on started_at. A
-- session is in the 30-day window of D when ended_at < D and started_at >= D - 30 days, so it
-- leaves the window at the first snapshot with both ended_at < D and started_at + 30 days < D.
session_windows as (
    select
        web_sessions.customer_key,
        web_sessions.started_at,
        web_sessions.page_views,
        web_sessions.product_views,
        web_sessions.add_to_carts,
        cast(coalesce(web_sessions.is_cart_abandoned, false) as integer) as cart_abandonments,
        visible.as_of_date as visible_from,
        out_of_30d.as_of_date as leaves_30d_from,
        out_of_90d.as_of_date as leaves_90d_from
    from web_sessions
    asof inner join all_snapshot_dates as visible
        on web_sessions.ended_at < visible.as_of_date
    asof left join all_snapshot_dates as out_of_30d
        on greatest(web_sessions.ended_at, web_sessions.started_at + interval 30 day)
            < out_of_30d.as_of_date
    asof left join all_snapshot_dates as out_of_90d
        on greatest(web_sessions.ended_at, web_sessions.started_at + interval 90 day)
            < out_of_90d.as_of_date
    where web_sessions.customer_key is not null
),

session_changes as (
    select
        customer_key,
        visible_from as changes_from,
        started_at,
        1 as web_sessions,
        1 as web_sessions_30d,
        1 as web_sessions_90d,
        page_views as page_views_30d,
        page_views as page_views_90d,
        product_views as product_views_30d,
        add_to_carts as add_to_carts_30d,
        cart_abandonments as cart_abandonments_30d
    from session_windows
    union all
    select
        customer_key, leaves_30d_from, null, 0, -1, 0, -page_views, 0, -product_views,
        -add_to_carts, -cart_abandonments
    from session_windows
    where leaves_30d_from is not null
    union all
    select customer_key, leaves_90d_from, null, 0, 0, -1, 0, -page_views, 0, 0, 0
    from session_windows
    where leaves_90d_from is not null
),

web_running as (
    select
        customer_key,
        changes_from,
        coalesce(lead(changes_from) over per_customer, date '9999-12-31') as changes_at,
        {%- for column in ['web_sessions', 'web_sessions_30d', 'web_sessions_90d',
                           'cart_abandonments_30d'] %}
        cast(sum({{ column }}) over per_customer as bigint) as {{ column }},
        {%- endfor %}
        {%- for column in ['page_views_30d', 'page_views_90d', 'product_views_30d',
                           'add_to_carts_30d'] %}
        cast(sum({{ column }}) over per_customer as hugeint) as {{ column }},
        {%- endfor %}
        max(last_visit_at) over per_customer as last_visit_at
    from (
        select
            customer_key,
            changes_from,
            max(started_at) as last_visit_at,
            sum(web_sessions) as web_sessions,
            sum(web_sessions_30d) as web_sessions_30d,
            sum(web_sessions_90d) as web_sessions_90d,
            sum(page_views_30d) as page_views_30d,
            sum(page_views_90d) as page_views_90d,
            sum(product_views_30d) as product_views_30d,
            sum(add_to_carts_30d) as add_to_carts_30d,
            sum(cart_abandonments_30d) as cart_abandonments_30d
        from session_changes
        group by customer_key, changes_from
    )
    window per_customer as (
        partition by customer_key order by changes_from
        rows between unbounded preceding and current row
    )
),

web_facts as (
    select web_running.* exclude (changes_from, changes_at), snapshot_dates.as_of_date
    from web_running
    inner join snapshot_dates
        on snapshot_dates.as_of_date >= web_running.changes_from
        and snapshot_dates.as_of_date < web_running.changes_at
),

ticket_facts as (
    select
        tickets.customer_key,
        snapshot_dates.as_of_date,
        count(*) as support_tickets_365d,
        avg(tickets.satisfaction_score) as avg_satisfaction
    from snapshot_dates
    inner join tickets
        on tickets.created_at < snapshot_dates.as_of_date
        and tickets.created_at >= snapshot_dates.as_of_date - interval 365 day
        and tickets.customer_key is not null
    group by tickets.customer_key, snapshot_dates.as_of_date
),

email_facts as (
    select
        email_events.customer_key,
        snapshot_dates.as_of_date,
        count(*) filter (where email_events.event_type = 'open') as email_opens_90d,
        count(*) filter (where email_events.event_type = 'click') as email_clicks_90d
    from snapshot_dates
    inner join email_events
        on email_events.occurred_at < snapshot_dates.as_of_date
        and email_events.occurred_at >= snapshot_dates.as_of_date - interval 90 day
        and email_events.customer_key is not null
    group by email_events.customer_key, snapshot_dates.as_of_date
),

top_category as (
    select customer_key, as_of_date, category_code as top_category, share as top_category_share
    from category_spend
    where share > 0
    qualify row_number() over (
        partition by customer_key, as_of_date order by net_revenue desc, category_code
    ) = 1
),

final as (
    select
        ---------- grain
        customers_as_of.customer_key,
        customers_as_of.as_of_date,
        ---------- orders: recency, frequency, monetary
        order_facts.first_order_at,
        order_facts.last_order_at,
        customers_as_of.as_of_date - order_facts.last_order_date as recency_days,
        {%- for column in ['frequency', 'frequency_90d', 'frequency_365d'] %}
        case when sources_as_of.has_orders_source then coalesce(order_facts.{{ column }}, 0) end
            as {{ column }},
        {%- endfor %}
        {%- for column in ['monetary', 'monetary_90d', 'monetary_365d'] %}
        case when sources_as_of.has_orders_source
            then cast(coalesce(order_facts.{{ column }}, 0) as double) end as {{ column }},
        {%- endfor %}
        order_facts.purchase_revenue / nullif(order_facts.frequency, 0) as avg_order_value,
        ---------- tenure and rhythm
        customers_as_of.as_of_date - cast(customers_as_of.first_seen_at as date) as tenure_days,
        case when order_facts.frequency >= 2
            then (order_facts.last_order_date - order_facts.first_order_date)
                / (order_facts.frequency - 1)
        end as mean_days_between_orders,
        ---------- what and how they buy
        top_category.top_category,
        top_category.top_category_share,
        order_facts.online_orders / nullif(order_facts.frequency, 0) as online_share,
        order_facts.weekend_orders / nullif(order_facts.frequency, 0) as weekend_order_share,
        order_facts.morning_orders / nullif(order_facts.frequency, 0) as morning_order_share,
        case when order_facts.purchase_gross_revenue > 0
            then order_facts.purchase_discount / order_facts.purchase_gross_revenue
        end as discount_share,
        order_facts.returned_lines / nullif(order_facts.lines, 0) as return_rate,
        ---------- web behaviour
        {%- for column in ['web_sessions_30d', 'web_sessions_90d', 'page_views_30d',
                           'page_views_90d', 'product_views_30d', 'add_to_carts_30d',
                           'cart_abandonments_30d'] %}
        case when sources_as_of.has_web_source then coalesce(web_facts.{{ column }}, 0) end
            as {{ column }},
        {%- endfor %}
        customers_as_of.as_of_date - cast(web_facts.last_visit_at as date)
            as days_since_last_visit,
        case when sources_as_of.has_web_source then coalesce(web_facts.web_sessions = 1, false) end
            as is_first_time_visitor,
        ---------- support and email
        case when sources_as_of.has_tickets_source
            then coalesce(ticket_facts.support_tickets_365d, 0) end as support_tickets_365d,
        ticket_facts.avg_satisfaction,
        case when sources_as_of.has_email_source
            then coalesce(email_facts.email_opens_90d, 0) end as email_opens_90d,
        case when sources_as_of.has_email_source
            then coalesce(email_facts.email_clicks_90d, 0) end as email_clicks_90d
    from customers_as_of
    inner join sources_as_of on customers_as_of.as_of_date = sources_as_of.as_of_date
    left join order_facts
        on customers_as_of.customer_key = order_facts.customer_key
        and customers_as_of.as_of_date = order_facts.as_of_date
    left join web_facts
        on customers_as_of.customer_key = web_facts.customer_key
        and customers_as_of.as_of_date = web_facts.as_of_date
    left join ticket_facts
        on customers_as_of.customer_key = ticket_facts.customer_key
        and customers_as_of.as_of_date = ticket_facts.as_of_date
    left join email_facts
        on customers_as_of.customer_key = email_facts.customer_key
        and customers_as_of.as_of_date = email_facts.as_of_date
    left join top_category
        on customers_as_of.customer_key = top_category.customer_key
        and customers_as_of.as_of_date = top_category.as_of_date
)

select * from final
