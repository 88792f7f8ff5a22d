with

order_lines as (
    select * from {{ ref('stg_pos__order_lines') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

orders as (
    select
        order_id,
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        any_value(channel) as channel,
        any_value(customer_id) as customer_id,
        any_value(loyalty_id) as loyalty_id,
        sum(gross_amount) as gross_revenue,
        sum(discount_amount) as discount_amount,
        sum(gross_amount) - sum(discount_amount) as net_revenue,
        bool_and(is_return) as is_return
    from order_lines
    group by order_id
),

final as (
    select
        orders.order_id,
        md5('contact:' || coalesce(orders.customer_id, by_loyalty.contact_id)) as customer_key,
        orders.ordered_at,
        orders.order_date,
        orders.channel,
        orders.gross_revenue,
        orders.discount_amount,
        orders.net_revenue,
        orders.is_return
    from orders
    left join contacts as by_loyalty
        on orders.customer_id is null and orders.loyalty_id = by_loyalty.loyalty_id
)

select * from final
