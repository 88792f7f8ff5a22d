with

source as (
    select * from {{ source('raw', 'pos_order_lines') }}
),

renamed as (
    select
        ---------- ids
        order_id,
        line_number,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        nullif(lower(trim(email)), '') as email,
        ---------- properties
        channel,
        store_id,
        sku,
        category_code,
        ---------- numerics
        quantity,
        unit_price,
        coalesce(discount_amount, 0) as discount_amount,
        quantity * unit_price as gross_amount,
        quantity < 0 as is_return,
        ---------- timestamps
        ordered_at,
        cast(ordered_at as date) as order_date
    from source
)

select * from renamed
