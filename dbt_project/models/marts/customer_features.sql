with

customers as (
    select * from {{ ref('customers') }}
),

orders as (
    select * from {{ ref('orders') }}
    where customer_key is not null and not is_return
),

as_of as (
    -- features are as of the day after the last order: they use every event before it
    select max(order_date) + 1 as as_of_date from {{ ref('orders') }}
),

final as (
    select
        customers.customer_key,
        as_of.as_of_date,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at,
        as_of.as_of_date - max(orders.order_date) as recency_days,
        count(orders.order_id) as frequency,
        cast(coalesce(sum(orders.net_revenue), 0) as double) as monetary
    from customers
    cross join as_of
    left join orders on customers.customer_key = orders.customer_key
    group by customers.customer_key, as_of.as_of_date
)

select * from final
