with

source as (
    select * from {{ source('raw', 'crm_tickets') }}
),

latest as (
    -- a ticket re-exported after a status change: keep its latest load
    select *
    from source
    qualify row_number() over (
        partition by trim(ticket_id) order by _loaded_at desc, _source_row desc
    ) = 1
),

renamed as (
    select
        ---------- ids
        trim(ticket_id) as ticket_id,
        nullif(trim(contact_id), '') as contact_id,
        {{ hash_pii("nullif(lower(trim(email)), '')") }} as email_hash,
        ---------- properties
        nullif(lower(trim(category)), '') as category,
        nullif(lower(trim(status)), '') as status,
        case when satisfaction_score between 1 and 5 then satisfaction_score end
            as satisfaction_score,
        ---------- timestamps
        created_at,
        ---------- lineage
        _loaded_at
    from latest
)

select * from renamed
