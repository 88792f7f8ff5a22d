{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        pre_hook="{{ record_snapshots_written() }}",
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
    -- incremental: only the snapshots not yet in the history, and the latest day (recomputed);
    -- the same macro scopes this model's data tests to them (macros/rows_written_by_the_run.sql)
    {{ feature_snapshots_to_build() }}
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

category_running as (
    select * from {{ ref('int_category_spend_running') }}
),

sources_as_of as (
    -- which sources had delivered anything before D: the rest give nulls, not zeros
    select
        snapshot_dates.as_of_date,
        coalesce((select min(ordered_at) from orders) < snapshot_dates.as_of_date, false)
            as has_orders_source,
        coalesce((select min(ended_at) from web_sessions) < snapshot_dates.as_of_date, false)
            as has_web_source,
        coalesce((select min(created_at) from tickets) < snapshot_dates.as_of_date, false)
            as has_tickets_source,
        coalesce((select min(occurred_at) from email_events) < snapshot_dates.as_of_date, false)
            as has_email_source
    from snapshot_dates
),

-- Point in time without joining events to snapshots. Joining every order (session, ticket,
-- email) to every later snapshot and aggregating per customer and snapshot is about a billion
-- rows at tier L (1M customers, two years, 105 snapshots), and joining five such tables on
-- (customer, snapshot) spilled more than 40 GB. Instead every event becomes a change to its
-- customer's features, placed once at the first snapshot that sees it (timestamp < as_of_date),
-- and the features are running totals of the changes per customer. A rolling window (30, 90 or
-- 365 days) is the same running total minus the events that have left it: an event at t leaves
-- the 90-day window of D once t < D - 90 days, so it is placed a second time, with the opposite
-- sign, at the first snapshot with t + 90 days < as_of_date. Money is summed as decimal(18, 4)
-- (the amounts are cents) so an order and its leaving cancel to exactly 0. All sources go into
-- one stream of changes (union by name: a source's columns are null on the others' rows), so
-- the running totals need one sort per customer and the snapshots one range join, and no large
-- table is joined to another.

customer_changes as (
    -- a customer exists as of D once first seen before D; first_seen_at is their earliest event
    -- of any source, so this is their first change
    select
        customers.customer_key,
        visible.as_of_date as changes_from,
        visible.as_of_date as exists_from,
        customers.first_seen_at
    from customers
    asof inner join all_snapshot_dates as visible
        on customers.first_seen_at < visible.as_of_date
),

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
    union all by name
    -- what it takes away from the 90-day window once it is older than that
    select
        customer_key,
        leaves_90d_from as changes_from,
        -cast(not is_return as integer) as purchases_90d,
        -net_revenue as net_revenue_90d
    from order_windows
    where leaves_90d_from is not null
    union all by name
    -- and from the 365-day window
    select
        customer_key,
        leaves_365d_from as changes_from,
        -cast(not is_return as integer) as purchases_365d,
        -net_revenue as net_revenue_365d
    from order_windows
    where leaves_365d_from is not null
),

-- Web sessions: a session counts once it is over (ended_at < D: one crossing midnight into D is
-- not before D) but the windows are on started_at. A session is in the 30-day window of D when
-- ended_at < D and started_at >= D - 30 days, so it leaves the window at the first snapshot
-- with both ended_at < D and started_at + 30 days < D.
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
        started_at as visit_at,
        1 as web_sessions,
        1 as web_sessions_30d,
        1 as web_sessions_90d,
        page_views as page_views_30d,
        page_views as page_views_90d,
        product_views as product_views_30d,
        add_to_carts as add_to_carts_30d,
        cart_abandonments as cart_abandonments_30d
    from session_windows
    union all by name
    select
        customer_key,
        leaves_30d_from as changes_from,
        -1 as web_sessions_30d,
        -page_views as page_views_30d,
        -product_views as product_views_30d,
        -add_to_carts as add_to_carts_30d,
        -cart_abandonments as cart_abandonments_30d
    from session_windows
    where leaves_30d_from is not null
    union all by name
    select
        customer_key,
        leaves_90d_from as changes_from,
        -1 as web_sessions_90d,
        -page_views as page_views_90d
    from session_windows
    where leaves_90d_from is not null
),

-- Tickets count in the 365 days and emails in the 90 days before D, the same way.
ticket_windows as (
    select
        tickets.customer_key,
        tickets.satisfaction_score,
        visible.as_of_date as visible_from,
        out_of_365d.as_of_date as leaves_365d_from
    from tickets
    asof inner join all_snapshot_dates as visible
        on tickets.created_at < visible.as_of_date
    asof left join all_snapshot_dates as out_of_365d
        on tickets.created_at + interval 365 day < out_of_365d.as_of_date
    where tickets.customer_key is not null
),

ticket_changes as (
    select
        customer_key,
        visible_from as changes_from,
        1 as support_tickets_365d,
        satisfaction_score as satisfaction_sum_365d,
        cast(satisfaction_score is not null as integer) as satisfaction_scores_365d
    from ticket_windows
    union all by name
    select
        customer_key,
        leaves_365d_from as changes_from,
        -1 as support_tickets_365d,
        -satisfaction_score as satisfaction_sum_365d,
        -cast(satisfaction_score is not null as integer) as satisfaction_scores_365d
    from ticket_windows
    where leaves_365d_from is not null
),

email_windows as (
    select
        email_events.customer_key,
        cast(email_events.event_type = 'open' as integer) as opens,
        cast(email_events.event_type = 'click' as integer) as clicks,
        visible.as_of_date as visible_from,
        out_of_90d.as_of_date as leaves_90d_from
    from email_events
    asof inner join all_snapshot_dates as visible
        on email_events.occurred_at < visible.as_of_date
    asof left join all_snapshot_dates as out_of_90d
        on email_events.occurred_at + interval 90 day < out_of_90d.as_of_date
    where email_events.customer_key is not null
),

email_changes as (
    select customer_key, visible_from as changes_from, opens as email_opens_90d,
        clicks as email_clicks_90d
    from email_windows
    union all by name
    select customer_key, leaves_90d_from as changes_from, -opens as email_opens_90d,
        -clicks as email_clicks_90d
    from email_windows
    where leaves_90d_from is not null
),

-- The top category changes only where one of the customer's category totals changes: at each
-- such snapshot, rank the categories by the totals that hold on it. It is set (not summed), so
-- it travels as a struct (top) that is null on every other change, and the running value is the
-- last one set; a customer whose categories are all net returned gets a struct of nulls.
category_change_points as (
    {%- if is_incremental() %}
    -- a daily run builds one or two snapshots: per customer, the last change at or before each
    select distinct customer_key, changes_from
    from (
        select category_running.customer_key, max(category_running.visible_from) as changes_from
        from category_running
        inner join snapshot_dates on category_running.visible_from <= snapshot_dates.as_of_date
        group by category_running.customer_key, snapshot_dates.as_of_date
    )
    {%- else %}
    select distinct customer_key, visible_from as changes_from
    from category_running
    {%- endif %}
),

category_totals_at_change as (
    select
        category_change_points.customer_key,
        category_change_points.changes_from,
        category_running.category_code,
        category_running.net_revenue,
        -- share of the positive spend, as in customer_category_spend
        case
            when sum(greatest(category_running.net_revenue, 0)) over per_change > 0
                then greatest(category_running.net_revenue, 0)
                    / sum(greatest(category_running.net_revenue, 0)) over per_change
        end as share
    from category_change_points
    inner join category_running
        on category_change_points.customer_key = category_running.customer_key
        and category_change_points.changes_from >= category_running.visible_from
        and category_change_points.changes_from < category_running.changes_at
    window per_change as (
        partition by category_change_points.customer_key, category_change_points.changes_from
    )
),

top_category_changes as (
    select
        customer_key,
        changes_from,
        {
            'top_category': case when share > 0 then category_code end,
            'top_category_share': case when share > 0 then share end
        } as top
    from category_totals_at_change
    qualify row_number() over (
        partition by customer_key, changes_from order by net_revenue desc, category_code
    ) = 1
),

changes as (
    select * from customer_changes
    union all by name
    select * from order_changes
    union all by name
    select * from session_changes
    union all by name
    select * from ticket_changes
    union all by name
    select * from email_changes
    union all by name
    select * from top_category_changes
),

{#- How each feature accumulates over a customer's changes:
    (column in the changes, feature, type). -#}
{%- set sums = [
    ('purchases', 'frequency', 'bigint'), ('purchases_90d', 'frequency_90d', 'bigint'),
    ('purchases_365d', 'frequency_365d', 'bigint'), ('online_orders', 'online_orders', 'bigint'),
    ('weekend_orders', 'weekend_orders', 'bigint'), ('morning_orders', 'morning_orders', 'bigint'),
    ('web_sessions', 'web_sessions', 'bigint'), ('web_sessions_30d', 'web_sessions_30d', 'bigint'),
    ('web_sessions_90d', 'web_sessions_90d', 'bigint'),
    ('cart_abandonments_30d', 'cart_abandonments_30d', 'bigint'),
    ('support_tickets_365d', 'support_tickets_365d', 'bigint'),
    ('satisfaction_scores_365d', 'satisfaction_scores_365d', 'bigint'),
    ('email_opens_90d', 'email_opens_90d', 'bigint'),
    ('email_clicks_90d', 'email_clicks_90d', 'bigint'),
    ('net_revenue', 'monetary', 'double'), ('net_revenue_90d', 'monetary_90d', 'double'),
    ('net_revenue_365d', 'monetary_365d', 'double'),
    ('purchase_revenue', 'purchase_revenue', 'double'),
    ('purchase_gross_revenue', 'purchase_gross_revenue', 'double'),
    ('purchase_discount', 'purchase_discount', 'double'),
    ('satisfaction_sum_365d', 'satisfaction_sum_365d', 'double'),
    ('page_views_30d', 'page_views_30d', 'hugeint'),
    ('page_views_90d', 'page_views_90d', 'hugeint'),
    ('product_views_30d', 'product_views_30d', 'hugeint'),
    ('add_to_carts_30d', 'add_to_carts_30d', 'hugeint'),
    ('lines', 'lines', 'hugeint'), ('returned_lines', 'returned_lines', 'hugeint'),
] -%}
{%- set extremes = [
    ('min', 'exists_from', 'exists_from'), ('min', 'first_seen_at', 'first_seen_at'),
    ('min', 'purchase_at', 'first_order_at'), ('max', 'purchase_at', 'last_order_at'),
    ('min', 'purchase_date', 'first_order_date'), ('max', 'purchase_date', 'last_order_date'),
    ('max', 'visit_at', 'last_visit_at'),
] -%}

{#- Which source's changes carry each column above, for the daily path: it aggregates each
    source on its own (an order change does not carry the session columns, and so on). -#}
{%- set change_columns = {
    'customer_changes': ['exists_from', 'first_seen_at'],
    'order_changes': [
        'purchase_at', 'purchase_date', 'purchases', 'purchases_90d', 'purchases_365d',
        'online_orders', 'weekend_orders', 'morning_orders', 'net_revenue', 'net_revenue_90d',
        'net_revenue_365d', 'purchase_revenue', 'purchase_gross_revenue', 'purchase_discount',
        'lines', 'returned_lines',
    ],
    'session_changes': [
        'visit_at', 'web_sessions', 'web_sessions_30d', 'web_sessions_90d',
        'cart_abandonments_30d', 'page_views_30d', 'page_views_90d', 'product_views_30d',
        'add_to_carts_30d',
    ],
    'ticket_changes': [
        'support_tickets_365d', 'satisfaction_scores_365d', 'satisfaction_sum_365d',
    ],
    'email_changes': ['email_opens_90d', 'email_clicks_90d'],
} -%}
{%- set mapped = [] -%}
{%- for columns in change_columns.values() %}{% do mapped.extend(columns) %}{% endfor -%}
{%- for column in (extremes | map(attribute=1) | list) + (sums | map(attribute=0) | list) -%}
    {%- if column not in mapped -%}
        {{ exceptions.raise_compiler_error(
            "customer_features: the change column '" ~ column ~ "' is not in change_columns") }}
    {%- endif -%}
{%- endfor %}

{% if is_incremental() %}
-- A daily run builds one or two snapshots (the latest day, and a new weekly one): the features
-- as of each are the sums of the changes up to it. A change counts toward the first snapshot
-- built at or after it (its bucket) and every later one. Each source is first summed per
-- customer and bucket on its own: one aggregate over the whole stream of changes, where every
-- row carries every source's columns, spilled 21 GB and took 100 s at tier L; per source, the
-- same snapshot takes about 50 s (docs/performance.md).
built_snapshots as (
    select list(as_of_date order by as_of_date) as dates from snapshot_dates
),
{#- a change's bucket: the first snapshot built at or after it -#}
{%- set bucket -%}
    list_filter((select dates from built_snapshots), lambda d: d >= changes_from)[1]
{%- endset %}
{%- set last_built = '(select list_last(dates) from built_snapshots)' %}

changes_per_bucket as (
    {%- for source, columns in change_columns.items() %}
    select
        customer_key,
        {{ bucket }} as bucket
        {%- for agg, column, feature in extremes if column in columns %},
        {{ agg }}({{ column }}) as {{ feature }}
        {%- endfor %}
        {%- for column, feature, type in sums if column in columns %},
        sum({{ column }}) as {{ feature }}
        {%- endfor %}
    from {{ source }}
    where changes_from <= {{ last_built }}
    group by all
    union all by name
    {%- endfor %}
    -- the top category is set, not summed: the latest set in the bucket
    select
        customer_key,
        {{ bucket }} as bucket,
        arg_max(top, changes_from) as top,
        max(changes_from) as top_from
    from top_category_changes
    where changes_from <= {{ last_built }}
    group by all
),

customers_as_of as (
    select
        customer_key,
        as_of_date,
        {%- for agg, column, feature in extremes %}
        {{ agg }}({{ feature }}) as {{ feature }},
        {%- endfor %}
        {%- for column, feature, type in sums %}
        cast(sum({{ feature }}) as {{ type }}) as {{ feature }},
        {%- endfor %}
        arg_max(top, top_from) as top
    from (
        -- a bucket counts toward its own snapshot and every later one built
        select
            *,
            unnest(list_filter((select dates from built_snapshots), lambda d: d >= bucket))
                as as_of_date
        from changes_per_bucket
    )
    group by customer_key, as_of_date
    -- a customer exists as of D once first seen before D
    having min(exists_from) is not null
),
{% else %}
changes_per_snapshot as (
    select
        customer_key,
        changes_from,
        {%- for agg, column, feature in extremes %}
        {{ agg }}({{ column }}) as {{ feature }},
        {%- endfor %}
        {%- for column, feature, type in sums %}
        sum({{ column }}) as {{ column }},
        {%- endfor %}
        -- at most one per customer and snapshot
        any_value(top) as top
    from changes
    group by customer_key, changes_from
),

running as (
    -- the features hold from the snapshot where they change until the next change (changes_at)
    select
        customer_key,
        changes_from,
        coalesce(lead(changes_from) over per_customer, date '9999-12-31') as changes_at,
        {%- for agg, column, feature in extremes %}
        {{ agg }}({{ feature }}) over per_customer as {{ feature }},
        {%- endfor %}
        {%- for column, feature, type in sums %}
        cast(sum({{ column }}) over per_customer as {{ type }}) as {{ feature }},
        {%- endfor %}
        last_value(top ignore nulls) over per_customer as top
    from changes_per_snapshot
    window per_customer as (
        partition by customer_key order by changes_from
        rows between unbounded preceding and current row
    )
),

customers_as_of as (
    -- one row per customer and snapshot built, from the snapshot where they first exist
    select running.*, snapshot_dates.as_of_date
    from running
    inner join snapshot_dates
        on snapshot_dates.as_of_date >= running.changes_from
        and snapshot_dates.as_of_date < running.changes_at
    where snapshot_dates.as_of_date >= running.exists_from
),
{% endif %}

final as (
    select
        ---------- grain
        customers_as_of.customer_key,
        customers_as_of.as_of_date,
        ---------- orders: recency, frequency, monetary
        customers_as_of.first_order_at,
        customers_as_of.last_order_at,
        customers_as_of.as_of_date - customers_as_of.last_order_date as recency_days,
        {%- for column in ['frequency', 'frequency_90d', 'frequency_365d'] %}
        case when sources_as_of.has_orders_source
            then coalesce(customers_as_of.{{ column }}, 0) end as {{ column }},
        {%- endfor %}
        {%- for column in ['monetary', 'monetary_90d', 'monetary_365d'] %}
        case when sources_as_of.has_orders_source
            then coalesce(customers_as_of.{{ column }}, 0) end as {{ column }},
        {%- endfor %}
        customers_as_of.purchase_revenue / nullif(customers_as_of.frequency, 0)
            as avg_order_value,
        ---------- tenure and rhythm
        customers_as_of.as_of_date - cast(customers_as_of.first_seen_at as date) as tenure_days,
        case when customers_as_of.frequency >= 2
            then (customers_as_of.last_order_date - customers_as_of.first_order_date)
                / (customers_as_of.frequency - 1)
        end as mean_days_between_orders,
        ---------- what and how they buy
        struct_extract(customers_as_of.top, 'top_category') as top_category,
        struct_extract(customers_as_of.top, 'top_category_share') as top_category_share,
        customers_as_of.online_orders / nullif(customers_as_of.frequency, 0) as online_share,
        customers_as_of.weekend_orders / nullif(customers_as_of.frequency, 0)
            as weekend_order_share,
        customers_as_of.morning_orders / nullif(customers_as_of.frequency, 0)
            as morning_order_share,
        case when customers_as_of.purchase_gross_revenue > 0
            then customers_as_of.purchase_discount / customers_as_of.purchase_gross_revenue
        end as discount_share,
        customers_as_of.returned_lines / nullif(customers_as_of.lines, 0) as return_rate,
        ---------- web behaviour
        {%- for column in ['web_sessions_30d', 'web_sessions_90d', 'page_views_30d',
                           'page_views_90d', 'product_views_30d', 'add_to_carts_30d',
                           'cart_abandonments_30d'] %}
        case when sources_as_of.has_web_source then coalesce(customers_as_of.{{ column }}, 0) end
            as {{ column }},
        {%- endfor %}
        customers_as_of.as_of_date - cast(customers_as_of.last_visit_at as date)
            as days_since_last_visit,
        case when sources_as_of.has_web_source
            then coalesce(customers_as_of.web_sessions = 1, false) end as is_first_time_visitor,
        ---------- support and email
        case when sources_as_of.has_tickets_source
            then coalesce(customers_as_of.support_tickets_365d, 0) end as support_tickets_365d,
        customers_as_of.satisfaction_sum_365d / nullif(customers_as_of.satisfaction_scores_365d, 0)
            as avg_satisfaction,
        case when sources_as_of.has_email_source
            then coalesce(customers_as_of.email_opens_90d, 0) end as email_opens_90d,
        case when sources_as_of.has_email_source
            then coalesce(customers_as_of.email_clicks_90d, 0) end as email_clicks_90d
    from customers_as_of
    inner join sources_as_of on customers_as_of.as_of_date = sources_as_of.as_of_date
)

select * from final
