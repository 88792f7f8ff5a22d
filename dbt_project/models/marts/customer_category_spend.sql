{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        post_hook="delete from {{ this }} where as_of_date < (select max(as_of_date) from {{ ref('int_feature_snapshot_dates') }}) and as_of_date not in (select as_of_date from {{ ref('int_feature_snapshot_dates') }})",
    )
}}

with

snapshot_dates as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
),

dates_to_build as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
    {% if is_incremental() %}
    -- only the snapshots not yet in the history, and the latest day (recomputed)
    where is_latest or as_of_date not in (select distinct as_of_date from {{ this }})
    {% endif %}
),

order_lines as (
    select
        orders.customer_key,
        order_lines.category_code,
        order_lines.net_amount,
        order_lines.ordered_at
    from {{ ref('int_order_lines_deduplicated') }} as order_lines
    inner join {{ ref('orders') }} as orders on order_lines.order_id = orders.order_id
    where orders.customer_key is not null
),

-- Point in time: a line counts from the first snapshot after it (ordered strictly before the
-- as-of date) onward. Each line is placed once, at that snapshot, and the spend as of any later
-- snapshot is a running total. Joining every line to every later snapshot instead would
-- aggregate about 500 million rows at tier L (1M customers, two years), more than the memory cap.
first_visible as (
    select
        order_lines.customer_key,
        order_lines.category_code,
        snapshot_dates.as_of_date as visible_from,
        -- exact money: a purchase and its return net to 0, not to a float residue of 1e-15
        sum(cast(order_lines.net_amount as decimal(18, 4))) as net_amount
    from order_lines
    asof inner join snapshot_dates on order_lines.ordered_at < snapshot_dates.as_of_date
    group by all
),

running_totals as (
    select
        customer_key,
        category_code,
        visible_from,
        cast(sum(net_amount) over per_category as double) as net_revenue,
        -- the total holds until the next snapshot that sees a new line of this category
        coalesce(lead(visible_from) over per_category, date '9999-12-31') as changes_at
    from first_visible
    window per_category as (partition by customer_key, category_code order by visible_from)
),

spend as (
    select
        running_totals.customer_key,
        dates_to_build.as_of_date,
        running_totals.category_code,
        running_totals.net_revenue
    from running_totals
    inner join dates_to_build
        on dates_to_build.as_of_date >= running_totals.visible_from
        and dates_to_build.as_of_date < running_totals.changes_at
),

final as (
    select
        customer_key,
        as_of_date,
        category_code,
        net_revenue,
        -- share of the positive spend, so a category that is net returned cannot push it past 1
        case
            when sum(greatest(net_revenue, 0)) over (partition by customer_key, as_of_date) > 0
                then greatest(net_revenue, 0)
                    / sum(greatest(net_revenue, 0)) over (partition by customer_key, as_of_date)
        end as share
    from spend
)

select * from final
