with

source as (
    select * from {{ source('raw', 'crm_email_events') }}
),

renamed as (
    select
        ---------- ids
        {{ hash_pii("nullif(lower(trim(email)), '')") }} as email_hash,
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(campaign_id), '') as campaign_id,
        ---------- properties
        lower(trim(event_type)) as event_type,
        ---------- timestamps
        occurred_at,
        ---------- lineage
        _loaded_at
    from source
),

deduplicated as (
    -- the same event exported twice is one event
    select distinct on (email_hash, contact_id, campaign_id, event_type, occurred_at) *
    from renamed
    order by email_hash, contact_id, campaign_id, event_type, occurred_at, _loaded_at
)

select * from deduplicated
