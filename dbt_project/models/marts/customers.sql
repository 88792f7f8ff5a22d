with

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

final as (
    select
        md5('contact:' || contact_id) as customer_key,
        contact_id,
        first_name,
        marketing_consent,
        created_at as first_seen_at
    from contacts
)

select * from final
