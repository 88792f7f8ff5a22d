-- No deduplication here: the incremental int_order_lines_deduplicated keys lines by order and
-- line number, so the daily run reads only the new day's rows through this view.
with

source as (
    select * from {{ source('raw', 'pos_order_lines') }}
),

renamed as (
    select
        ---------- ids
        trim(order_id) as order_id,
        line_number,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        {{ hash_pii("nullif(lower(trim(email)), '')") }} as email_hash,
        {{ hash_pii(normalise_phone('phone')) }} as phone_hash,
        nullif(trim(store_id), '') as store_id,
        trim(sku) as sku,
        ---------- properties
        lower(trim(channel)) as channel,
        lower(trim(category_code)) as category_code,
        ---------- numerics
        quantity,
        unit_price,
        coalesce(discount_amount, 0) as discount_amount,
        quantity * unit_price as gross_amount,
        quantity * unit_price - coalesce(discount_amount, 0) as net_amount,
        quantity < 0 as is_return,
        ---------- timestamps
        ordered_at,
        cast(ordered_at as date) as order_date,
        ---------- lineage
        _source_row,
        _loaded_at
    from source
)

select * from renamed
