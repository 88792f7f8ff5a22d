{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_id',
        on_schema_change='append_new_columns',
        pre_hook="{{ record_labels_written(with_loads=true) }}",
    )
}}
{#- Incremental: a daily run writes the orders loaded since its last build and the orders whose
    identity component was labelled again (their customer may have changed); every other order
    keeps its customer. -#}

with

orders as (
    select * from {{ ref('int_orders_aggregated') }}
    where {{ loaded_or_relabelled({'order_id': 'order_id'}) }}
),

order_customers as (
    select identifier_value as order_id, customer_key, _labelled_in
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
        orders.order_date,
        ---------- lineage
        orders._loaded_at,
        order_customers._labelled_in
    from orders
    left join order_customers on orders.order_id = order_customers.order_id
)

select * from final
