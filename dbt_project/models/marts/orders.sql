with

orders as (
    select * from {{ ref('int_orders_aggregated') }}
),

order_customers as (
    select identifier_value as order_id, customer_key
    from {{ ref('int_identity_components') }}
    where identifier_type = 'order_id'
),

final as (
    select
        ---------- ids
        orders.order_id,
        order_customers.customer_key,
        orders.store_id,
        ---------- properties
        orders.channel,
        orders.is_return,
        ---------- numerics
        orders.lines,
        orders.returned_lines,
        orders.items,
        orders.gross_revenue,
        orders.discount_amount,
        orders.net_revenue,
        ---------- timestamps
        orders.ordered_at,
        orders.order_date
    from orders
    left join order_customers on orders.order_id = order_customers.order_id
)

select * from final
