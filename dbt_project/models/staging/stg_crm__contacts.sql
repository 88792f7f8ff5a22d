with

source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

latest as (
    -- a contact appears in every daily drop that changed it: keep its latest version
    select *
    from source
    qualify row_number() over (partition by contact_id order by updated_at desc, _source_row desc) = 1
),

renamed as (
    select
        ---------- ids
        contact_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        nullif(lower(trim(email)), '') as email,
        ---------- properties
        first_name,
        coalesce(marketing_consent, false) as marketing_consent,
        ---------- timestamps
        created_at,
        updated_at
    from latest
)

select * from renamed
