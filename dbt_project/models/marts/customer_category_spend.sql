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

spend as (
    select
        order_lines.customer_key,
        snapshot_dates.as_of_date,
        order_lines.category_code,
        sum(order_lines.net_amount) as net_revenue
    from snapshot_dates
    -- point in time: only lines ordered strictly before the as-of date
    inner join order_lines on order_lines.ordered_at < snapshot_dates.as_of_date
    group by order_lines.customer_key, snapshot_dates.as_of_date, order_lines.category_code
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
