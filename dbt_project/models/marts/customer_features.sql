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

order_facts as (
    select
        orders.customer_key,
        snapshot_dates.as_of_date,
        min(orders.ordered_at) filter (where not orders.is_return) as first_order_at,
        max(orders.ordered_at) filter (where not orders.is_return) as last_order_at,
        min(orders.order_date) filter (where not orders.is_return) as first_order_date,
        max(orders.order_date) filter (where not orders.is_return) as last_order_date,
        count(*) filter (where not orders.is_return) as frequency,
        count(*) filter (
            where not orders.is_return
                and orders.ordered_at >= snapshot_dates.as_of_date - interval 90 day
        ) as frequency_90d,
        count(*) filter (
            where not orders.is_return
                and orders.ordered_at >= snapshot_dates.as_of_date - interval 365 day
        ) as frequency_365d,
        sum(orders.net_revenue) as monetary,
        coalesce(sum(orders.net_revenue) filter (
            where orders.ordered_at >= snapshot_dates.as_of_date - interval 90 day
        ), 0) as monetary_90d,
        coalesce(sum(orders.net_revenue) filter (
            where orders.ordered_at >= snapshot_dates.as_of_date - interval 365 day
        ), 0) as monetary_365d,
        sum(orders.net_revenue) filter (where not orders.is_return) as purchase_revenue,
        count(*) filter (where not orders.is_return and orders.channel = 'online')
            as online_orders,
        -- when they buy, on the shop's local clock (ordered_at has no time zone): isodow 6 and 7
        -- are Saturday and Sunday; the morning ends at 11:00
        count(*) filter (where not orders.is_return and isodow(orders.ordered_at) in (6, 7))
            as weekend_orders,
        count(*) filter (where not orders.is_return and hour(orders.ordered_at) < 11)
            as morning_orders,
        sum(orders.gross_revenue) filter (where not orders.is_return) as purchase_gross_revenue,
        sum(orders.discount_amount) filter (where not orders.is_return) as purchase_discount,
        sum(orders.lines) as lines,
        sum(orders.returned_lines) as returned_lines
    from snapshot_dates
    inner join orders
        on orders.ordered_at < snapshot_dates.as_of_date
        and orders.customer_key is not null
    group by orders.customer_key, snapshot_dates.as_of_date
),

web_facts as (
    select
        web_sessions.customer_key,
        snapshot_dates.as_of_date,
        count(*) as web_sessions,
        count(*) filter (
            where web_sessions.started_at >= snapshot_dates.as_of_date - interval 30 day
        ) as web_sessions_30d,
        count(*) filter (
            where web_sessions.started_at >= snapshot_dates.as_of_date - interval 90 day
        ) as web_sessions_90d,
        coalesce(sum(web_sessions.page_views) filter (
            where web_sessions.started_at >= snapshot_dates.as_of_date - interval 30 day
        ), 0) as page_views_30d,
        coalesce(sum(web_sessions.page_views) filter (
            where web_sessions.started_at >= snapshot_dates.as_of_date - interval 90 day
        ), 0) as page_views_90d,
        coalesce(sum(web_sessions.product_views) filter (
            where web_sessions.started_at >= snapshot_dates.as_of_date - interval 30 day
        ), 0) as product_views_30d,
        coalesce(sum(web_sessions.add_to_carts) filter (
            where web_sessions.started_at >= snapshot_dates.as_of_date - interval 30 day
        ), 0) as add_to_carts_30d,
        count(*) filter (
            where web_sessions.is_cart_abandoned
                and web_sessions.started_at >= snapshot_dates.as_of_date - interval 30 day
        ) as cart_abandonments_30d,
        max(web_sessions.started_at) as last_visit_at
    from snapshot_dates
    -- a session counts once it is over: one crossing midnight into D is not before D
    inner join web_sessions
        on web_sessions.ended_at < snapshot_dates.as_of_date
        and web_sessions.customer_key is not null
    group by web_sessions.customer_key, snapshot_dates.as_of_date
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
