{#- Net spend per customer and product category as a running total over the feature
    snapshots, cut into the pieces of a customer's history between two changes of any of their
    category totals: one row per customer, category and piece, holding from the snapshot where
    one of the customer's totals changes (visible_from) until the next such change (changes_at,
    exclusive), with the category's share of the customer's positive spend on it. The shares are
    computed here, once per piece: customer_category_spend only spreads the pieces over the
    snapshot dates, and customer_features takes each customer's top category per piece.

    Incremental: a daily run computes again only the customers whose totals can have changed
    (macros/category_spend_incremental.sql), and with them their pieces and shares. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='customer_key',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ record_category_spend_written() }}",
            "{{ delete_category_spend_to_rebuild() }}",
        ],
        post_hook="{{ record_incremental_state('select max(_loaded_at) from ' ~ this, category_spend_snapshot_dates()) }}",
    )
}}
-- depends_on: {{ ref('int_identity_components') }} (the labels read by labelled_after)
{%- set rebuild_all = category_spend_rebuild_all() %}

with

snapshot_dates as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
),

orders as (
    select order_id, customer_key, _labelled_in
    from {{ ref('orders') }}
    where customer_key is not null
),
{%- if not rebuild_all %}
{#- read first and written in as constants, so DuckDB skips the row groups of older lines: the
    newest load the table holds, and the newest regular snapshot, now or at the last build,
    whichever is older (a line before both is placed at a regular date that stays listed) -#}
{%- set bounds = run_query(
    "select (select coalesce(max(_loaded_at), timestamp '1900-01-01') from " ~ this
    ~ ")::varchar, least(date '" ~ (incremental_state().settings.split(',') | max)
    ~ "', (select coalesce(max(as_of_date), date '1900-01-01') from "
    ~ ref('int_feature_snapshot_dates') ~ " where not is_latest))::varchar"
).rows[0] %}

changed_customers as (
    -- a line loaded since the last build, or ordered on or after the newest regular snapshot
    -- (its place is the latest day, which moves, or a regular date listed since)
    select orders.customer_key
    from {{ ref('int_order_lines_deduplicated') }} as order_lines
    inner join orders on order_lines.order_id = orders.order_id
    where order_lines._loaded_at > timestamp '{{ bounds[0] }}'
        or order_lines.ordered_at >= timestamp '{{ bounds[1] }}'
    union
    -- an order labelled again: its customer may have changed
    select customer_key from orders where _labelled_in > {{ labelled_after() }}
    union
    -- a total placed at a day no longer listed
    select customer_key from {{ this }}
    where visible_from not in (select as_of_date from snapshot_dates)
),

orders_to_place as (
    select orders.*
    from orders
    where customer_key in (select customer_key from changed_customers)
),
{%- endif %}

order_lines as (
    select
        orders.customer_key,
        order_lines.category_code,
        order_lines.net_amount,
        order_lines.ordered_at,
        order_lines._loaded_at,
        orders._labelled_in
    from {{ ref('int_order_lines_deduplicated') }} as order_lines
    inner join {{ 'orders' if rebuild_all else 'orders_to_place' }} as orders
        on order_lines.order_id = orders.order_id
),

-- Point in time: a line counts from the first snapshot after it (ordered strictly before the
-- as-of date) onward. Each line is placed once, at that snapshot, and the spend as of any later
-- snapshot is a running total. Joining every line to every later snapshot instead would
-- aggregate about 500 million rows at tier L (1M customers, two years), more than the memory cap.
-- Read twice below (the totals, and the customer's change points), so computed once.
first_visible as materialized (
    select
        order_lines.customer_key,
        order_lines.category_code,
        snapshot_dates.as_of_date as visible_from,
        -- exact money: a purchase and its return net to 0, not to a float residue of 1e-15
        sum(cast(order_lines.net_amount as decimal(18, 4))) as net_amount,
        max(order_lines._loaded_at) as _loaded_at,
        max(order_lines._labelled_in) as _labelled_in
    from order_lines
    asof inner join snapshot_dates on order_lines.ordered_at < snapshot_dates.as_of_date
    group by order_lines.customer_key, order_lines.category_code, snapshot_dates.as_of_date
),

category_totals as (
    -- the total holds until the next snapshot that sees a new line of this category
    select
        customer_key,
        category_code,
        visible_from,
        coalesce(lead(visible_from) over per_category, date '9999-12-31') as changes_at,
        cast(sum(net_amount) over per_category as double) as net_revenue,
        _loaded_at,
        _labelled_in
    from first_visible
    window per_category as (partition by customer_key, category_code order by visible_from)
),

change_points as (
    -- the snapshots where any of the customer's totals change, each until the next
    select
        customer_key,
        visible_from,
        coalesce(
            lead(visible_from) over (partition by customer_key order by visible_from),
            date '9999-12-31'
        ) as changes_at
    from (select distinct customer_key, visible_from from first_visible)
),

-- A share changes wherever any of the customer's totals changes, so it is computed once per
-- piece between two such changes, here, for both readers. Computing it per customer and snapshot
-- took 102 s at tier L (a window over 150M rows); per piece, in this model, 12.7 s for the whole
-- model against 5.6 s without the pieces (docs/performance.md).
pieces as (
    -- every total that holds on a change point, until the next change point
    select
        category_totals.customer_key,
        category_totals.category_code,
        change_points.visible_from,
        change_points.changes_at,
        category_totals.net_revenue,
        category_totals._loaded_at,
        category_totals._labelled_in
    from change_points
    inner join category_totals
        on change_points.customer_key = category_totals.customer_key
        and change_points.visible_from >= category_totals.visible_from
        and change_points.visible_from < category_totals.changes_at
)

select
    customer_key,
    category_code,
    visible_from,
    changes_at,
    net_revenue,
    -- share of the positive spend, so a category that is net returned cannot push it past 1
    case
        when sum(greatest(net_revenue, 0)) over per_piece > 0
            then greatest(net_revenue, 0) / sum(greatest(net_revenue, 0)) over per_piece
    end as share,
    _loaded_at,
    _labelled_in,
    '{{ invocation_id }}' as _dbt_invocation_id
from pieces
window per_piece as (partition by customer_key, visible_from)
