{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        pre_hook="{{ record_snapshots_written() }}",
        post_hook="{{ delete_snapshots_no_longer_listed() }}",
    )
}}
{#- One row per customer per as-of date. Point in time: every feature as of day D is computed
    from events strictly before D (timestamps < D at midnight). A source with no rows before D
    gives nulls for its features; with rows, a customer without activity in it gets zero counts. -#}

{#- A build of a few snapshots (a daily run builds one or two) sums each straight from the events
    before it; a build of many goes through the stream of changes below (var
    feature_snapshots_summed_directly). -#}
{%- set most_summed_directly = var('feature_snapshots_summed_directly') %}
{%- if most_summed_directly is not number or most_summed_directly < 0 %}
    {{ exceptions.raise_compiler_error(
        "var feature_snapshots_summed_directly must be a whole number of snapshots (>= 0); found "
        ~ most_summed_directly) }}
{%- endif %}
{%- set sum_directly = false %}
{%- if is_incremental() and execute %}
    {%- set to_build = run_query(
        'select count(*) from (' ~ feature_snapshots_to_build() ~ ')').columns[0].values()[0] %}
    {%- set sum_directly = to_build <= most_summed_directly %}
{%- endif %}

with

all_snapshot_dates as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
),

snapshot_dates as (
    -- incremental: only the snapshots not yet in the history, and the latest day (recomputed),
    -- as constants; the macro that picks them also scopes this model's data tests
    -- (macros/rows_written_by_the_run.sql)
    {{ feature_snapshot_dates_built() }}
),

customers as (
    select customer_key, first_seen_at from {{ ref('customers') }}
),

-- read more than once below, so not materialized: DuckDB would copy the whole table first
orders as not materialized (
    select * from {{ ref('orders') }}
),

web_sessions as not materialized (
    select * from {{ ref('web_sessions') }}
),

tickets as not materialized (
    select * from {{ ref('int_tickets_resolved') }}
),

emails as not materialized (
    select * from {{ ref('int_email_events_resolved') }}
),

category_running as not materialized (
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
        coalesce((select min(occurred_at) from emails) < snapshot_dates.as_of_date, false)
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
-- (the amounts are cents) so an order and its leaving cancel to exactly 0. Each source sums its
-- changes per customer and snapshot, and then all sources go into one stream of changes (union
-- by name: a source's columns are null on the others' rows), so the running totals need one
-- sort per customer and the snapshots one range join, and no large table is joined to another.

{#- The stream's CTEs are written only when the stream is used: a daily run's compiled SQL holds
    what it runs. -#}
{%- if not sum_directly %}
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
{%- endif %}

{#- The event sources, and what one event of each changes: (change column, its value for the
    event, the rolling window in days it counts in or none for all time). `columns` are the
    event's own columns that the values read. An event counts as of D once seen_at < D, and in
    the w-day window of D while window_from + w days >= D: a web session counts once it is over
    (ended_at < D; one crossing midnight into D is not before D) but its windows are on
    started_at. The weekend is isodow 6 and 7 and the morning ends at 11:00, on the shop's local
    clock (ordered_at has no time zone). Both ways of computing the features (the stream of
    changes for a backfill, and the direct sums of a daily run) read these definitions. -#}
{%- set event_sources = {
    'order': {
        'relation': 'orders', 'seen_at': 'ordered_at', 'window_from': 'ordered_at',
        'columns': [
            'is_return', 'ordered_at', 'order_date', 'channel', 'lines', 'returned_lines',
            'cast(net_revenue as decimal(18, 4)) as net_revenue',
            'cast(gross_revenue as decimal(18, 4)) as gross_revenue',
            'cast(discount_amount as decimal(18, 4)) as discount_amount',
        ],
        'changes': [
            ('purchase_at', 'case when not is_return then ordered_at end', none),
            ('purchase_date', 'case when not is_return then order_date end', none),
            ('purchases', 'cast(not is_return as integer)', none),
            ('purchases_90d', 'cast(not is_return as integer)', 90),
            ('purchases_365d', 'cast(not is_return as integer)', 365),
            ('net_revenue', 'net_revenue', none),
            ('net_revenue_90d', 'net_revenue', 90),
            ('net_revenue_365d', 'net_revenue', 365),
            ('purchase_revenue', 'case when not is_return then net_revenue end', none),
            ('online_orders', "cast(not is_return and channel = 'online' as integer)", none),
            ('weekend_orders', 'cast(not is_return and isodow(ordered_at) in (6, 7) as integer)',
                none),
            ('morning_orders', 'cast(not is_return and hour(ordered_at) < 11 as integer)', none),
            ('purchase_gross_revenue', 'case when not is_return then gross_revenue end', none),
            ('purchase_discount', 'case when not is_return then discount_amount end', none),
            ('lines', 'lines', none),
            ('returned_lines', 'returned_lines', none),
        ],
    },
    'session': {
        'relation': 'web_sessions', 'seen_at': 'ended_at', 'window_from': 'started_at',
        'columns': [
            'started_at', 'ended_at', 'page_views', 'product_views', 'add_to_carts',
            'cast(coalesce(is_cart_abandoned, false) as integer) as cart_abandonments',
        ],
        'changes': [
            ('visit_at', 'started_at', none),
            ('web_sessions', '1', none),
            ('web_sessions_30d', '1', 30),
            ('web_sessions_90d', '1', 90),
            ('page_views_30d', 'page_views', 30),
            ('page_views_90d', 'page_views', 90),
            ('product_views_30d', 'product_views', 30),
            ('add_to_carts_30d', 'add_to_carts', 30),
            ('cart_abandonments_30d', 'cart_abandonments', 30),
        ],
    },
    'ticket': {
        'relation': 'tickets', 'seen_at': 'created_at', 'window_from': 'created_at',
        'columns': ['created_at', 'satisfaction_score'],
        'changes': [
            ('support_tickets_365d', '1', 365),
            ('satisfaction_sum_365d', 'satisfaction_score', 365),
            ('satisfaction_scores_365d', 'cast(satisfaction_score is not null as integer)', 365),
        ],
    },
    'email': {
        'relation': 'emails', 'seen_at': 'occurred_at', 'window_from': 'occurred_at',
        'columns': ['occurred_at', 'event_type'],
        'changes': [
            ('email_opens_90d', "cast(event_type = 'open' as integer)", 90),
            ('email_clicks_90d', "cast(event_type = 'click' as integer)", 90),
        ],
    },
} %}

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

{#- Every column above must be one of the changes. -#}
{%- set change_columns = ['exists_from', 'first_seen_at'] -%}
{%- for source in event_sources.values() -%}
    {%- do change_columns.extend(source.changes | map(attribute=0)) -%}
{%- endfor -%}
{%- for column in (extremes | map(attribute=1) | list) + (sums | map(attribute=0) | list) -%}
    {%- if column not in change_columns -%}
        {{ exceptions.raise_compiler_error(
            "customer_features: the change column '" ~ column ~ "' is in no source's changes") }}
    {%- endif -%}
{%- endfor %}

{%- for name, source in event_sources.items() %}
{%- set windows = source.changes | map(attribute=2) | reject('none') | unique | list %}
{%- set changed = source.changes | map(attribute=0) | list %}
{%- set all_in_windows = source.changes | map(attribute=2) | select('none') | list | length == 0 %}

{{ name }}_events as (
    select customer_key, {{ source.columns | join(', ') }}
    from {{ source.relation }}
    where customer_key is not null
    {%- if sum_directly and all_in_windows %}
        -- each of this source's features counts in a window: an event too old for the longest
        -- window of the earliest snapshot built counts in none of them
        and {{ source.window_from }} + interval {{ windows | max }} day
            >= (select min(as_of_date) from snapshot_dates)
    {%- endif %}
),
{%- if not sum_directly %}

{{ name }}_windows as (
    -- the snapshot that first sees each event, and the first one outside each of its windows
    select
        events.*,
        visible.as_of_date as visible_from
        {%- for window in windows %},
        out_of_{{ window }}d.as_of_date as leaves_{{ window }}d_from
        {%- endfor %}
    from {{ name }}_events as events
    asof inner join all_snapshot_dates as visible
        on events.{{ source.seen_at }} < visible.as_of_date
    {%- for window in windows %}
    asof left join all_snapshot_dates as out_of_{{ window }}d
        on
        {%- if source.seen_at == source.window_from %}
            events.{{ source.window_from }} + interval {{ window }} day
        {%- else %}
            greatest(
                events.{{ source.seen_at }},
                events.{{ source.window_from }} + interval {{ window }} day
            )
        {%- endif %}
            < out_of_{{ window }}d.as_of_date
    {%- endfor %}
),

{{ name }}_event_changes as (
    -- what each event adds at the snapshot that first sees it
    select
        customer_key,
        visible_from as changes_from
        {%- for column, value, window in source.changes %},
        {{ value }} as {{ column }}
        {%- endfor %}
    from {{ name }}_windows
    {%- for window in windows %}
    union all by name
    -- and what it takes away from its {{ window }}-day window once it is older than that
    select
        customer_key,
        leaves_{{ window }}d_from as changes_from
        {%- for column, value, in_window in source.changes if in_window == window %},
        -({{ value }}) as {{ column }}
        {%- endfor %}
    from {{ name }}_windows
    where leaves_{{ window }}d_from is not null
    {%- endfor %}
),

{{ name }}_changes as (
    -- summed per customer and snapshot here, on the source's few columns: grouping the stream
    -- of all sources, where every row carries every source's columns, took longer
    select
        customer_key,
        changes_from
        {%- for agg, column, feature in extremes if column in changed %},
        {{ agg }}({{ column }}) as {{ feature }}
        {%- endfor %}
        {%- for column, feature, type in sums if column in changed %},
        sum({{ column }}) as {{ column }}
        {%- endfor %}
    from {{ name }}_event_changes
    group by customer_key, changes_from
),
{%- endif %}
{%- endfor %}

-- The top category changes only where one of the customer's category totals changes, where a
-- piece of int_category_spend_running starts: the piece's totals and shares rank the categories.
-- It is set (not summed), so it travels as a struct (top) that is null on every other change,
-- and the running value is the last one set; a customer whose categories are all net returned
-- gets a struct of nulls.
category_totals_at_change as (
    {%- if sum_directly %}
    -- each snapshot built: the pieces that hold on it, read directly (every category of every
    -- customer with a purchase by then)
    select
        category_running.customer_key,
        snapshot_dates.as_of_date as changes_from,
        category_running.category_code,
        category_running.net_revenue,
        category_running.share
    from snapshot_dates
    inner join category_running
        on snapshot_dates.as_of_date >= category_running.visible_from
        and snapshot_dates.as_of_date < category_running.changes_at
    {%- else %}
    select
        customer_key,
        visible_from as changes_from,
        category_code,
        net_revenue,
        share
    from category_running
    {%- endif %}
),

top_categories as (
    -- one aggregate per customer and change: the category with the largest total (the pair
    -- (-total, code) is smallest for it, so the first code wins a tie) and its share, the largest.
    -- Measured when the share was still computed here: two windows over the same rows (the share,
    -- then a row number) took 7.6 s against 4.9 s for this aggregate at tier L in a backfill, 1.0
    -- against 0.55 s in a daily run (docs/performance.md).
    select
        customer_key,
        changes_from,
        arg_min(category_code, (-net_revenue, category_code)) as category_code,
        max(share) as share
    from category_totals_at_change
    group by customer_key, changes_from
),

top_category_changes as (
    select
        customer_key,
        changes_from,
        {
            'top_category': case when share > 0 then category_code end,
            'top_category_share': case when share > 0 then share end
        } as top
    from top_categories
),

{%- if not sum_directly %}
changes as (
    select * from customer_changes
    {%- for name in event_sources %}
    union all by name
    select * from {{ name }}_changes
    {%- endfor %}
    union all by name
    select * from top_category_changes
),
{%- endif %}

{% if sum_directly %}
-- A few snapshots: each summed straight from the events seen before it, a window being a filter
-- on the same sum. The stream of changes serves a backfill's hundred snapshots in one pass, but
-- for the one snapshot of a daily run it took 35 s at tier L, against 8 s this way
-- (docs/performance.md). A source whose features all count in windows (tickets, emails)
-- sums only the events its longest window can hold, however long the history.
{%- for name, source in event_sources.items() %}
{%- set change_of = {} %}
{%- for column, value, window in source.changes %}
    {%- do change_of.update({column: (value, window)}) %}
{%- endfor %}

{{ name }}_as_of as (
    select
        events.customer_key,
        snapshot_dates.as_of_date
        {%- for agg, column, feature in extremes if column in change_of %},
        {{ agg }}({{ change_of[column][0] }}) as {{ feature }}
        {%- endfor %}
        {%- for column, feature, type in sums if column in change_of %},
        {%- set value, window = change_of[column] %}
        sum({{ value }})
        {%- if window %}
            filter (where {{ source.window_from }} + interval {{ window }} day
                >= snapshot_dates.as_of_date)
        {%- endif %} as {{ feature }}
        {%- endfor %}
    from {{ name }}_events as events
    inner join snapshot_dates on events.{{ source.seen_at }} < snapshot_dates.as_of_date
    group by events.customer_key, snapshot_dates.as_of_date
),
{%- endfor %}

customers_as_of as (
    -- a customer exists as of D once first seen before D
    select
        customers.customer_key,
        snapshot_dates.as_of_date,
        customers.first_seen_at
        {%- for name, source in event_sources.items() %}
        {%- set columns = source.changes | map(attribute=0) | list %}
        {%- for agg, column, feature in extremes if column in columns %},
        {{ name }}_as_of.{{ feature }}
        {%- endfor %}
        {%- for column, feature, type in sums if column in columns %},
        cast({{ name }}_as_of.{{ feature }} as {{ type }}) as {{ feature }}
        {%- endfor %}
        {%- endfor %},
        top_category_changes.top
    from customers
    inner join snapshot_dates on customers.first_seen_at < snapshot_dates.as_of_date
    {%- for name in event_sources %}
    left join {{ name }}_as_of
        on customers.customer_key = {{ name }}_as_of.customer_key
        and snapshot_dates.as_of_date = {{ name }}_as_of.as_of_date
    {%- endfor %}
    left join top_category_changes
        on customers.customer_key = top_category_changes.customer_key
        and snapshot_dates.as_of_date = top_category_changes.changes_from
),
{% else %}
-- Many snapshots: the running totals of the stream of changes, read at each snapshot built.
changes_per_snapshot as (
    select
        customer_key,
        changes_from,
        {%- for agg, column, feature in extremes %}
        {{ agg }}({{ feature }}) as {{ feature }},
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
