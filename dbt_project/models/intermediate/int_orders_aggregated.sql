{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_id',
        pre_hook="{{ record_loads_written() }}",
    )
}}

with

order_lines as (
    select * from {{ ref('int_order_lines_deduplicated') }}
    {% if is_incremental() %}
    -- re-aggregate only the orders that received lines since the last run
    where order_id in (
        select order_id
        from {{ ref('int_order_lines_deduplicated') }}
        where {{ loaded_since_last_build() }}
    )
    {% endif %}
),

aggregated as (
    select
        ---------- ids
        order_id,
        max(customer_id) as customer_id,
        max(loyalty_id) as loyalty_id,
        max(email_hash) as email_hash,
        max(phone_hash) as phone_hash,
        max(store_id) as store_id,
        ---------- properties
        mode(channel) as channel,
        ---------- numerics
        count(*) as lines,
        count(*) filter (where is_return) as returned_lines,
        sum(quantity) as items,
        sum(gross_amount) as gross_revenue,
        sum(discount_amount) as discount_amount,
        sum(net_amount) as net_revenue,
        bool_and(is_return) as is_return,
        ---------- timestamps
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        ---------- lineage
        max(_loaded_at) as _loaded_at
    from order_lines
    group by order_id
),

final as (
    select
        *,
        '{{ invocation_id }}' as _dbt_invocation_id
    from aggregated
)

select * from final
