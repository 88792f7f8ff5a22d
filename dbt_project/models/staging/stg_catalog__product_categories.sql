with

source as (
    select * from {{ source('raw', 'product_categories') }}
),

renamed as (
    select
        ---------- ids
        lower(trim(code)) as category_code,
        ---------- properties
        name as category_name,
        preference_segment
    from source
)

select * from renamed
