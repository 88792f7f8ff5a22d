-- No deduplication here: the incremental int_email_events_deduplicated keys events by event_key,
-- so the daily run hashes only the new day's rows through this view.
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

keyed as (
    select
        -- the fields that make an event unique: the same event exported twice has the same key
        md5(concat_ws('|',
            coalesce(email_hash, ''), coalesce(contact_id, ''), coalesce(campaign_id, ''),
            coalesce(event_type, ''), coalesce(cast(occurred_at as varchar), '')
        )) as event_key,
        *
    from renamed
)

select * from keyed
