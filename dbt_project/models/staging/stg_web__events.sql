-- No deduplication here: the incremental int_web_events_deduplicated keys events by event_key,
-- so the daily run reads only the new day's rows through this view.
with

source as (
    select * from {{ source('raw', 'web_events') }}
),

renamed as (
    select
        ---------- ids
        md5(concat_ws('|',
            trim(user_pseudo_id), trim(session_id), cast(event_timestamp as varchar),
            lower(trim(event_name)), coalesce(trim(sku), ''), coalesce(trim(transaction_id), ''),
            coalesce(page_location, '')
        )) as event_key,
        md5(trim(user_pseudo_id) || '|' || trim(session_id)) as session_key,
        trim(user_pseudo_id) as user_pseudo_id,
        trim(session_id) as session_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(transaction_id), '') as transaction_id,
        nullif(trim(sku), '') as sku,
        ---------- properties
        lower(trim(event_name)) as event_name,
        nullif(lower(trim(category_code)), '') as category_code,
        page_location,
        nullif(lower(trim(device_category)), '') as device_category,
        ---------- numerics
        value,
        ---------- timestamps
        event_timestamp,
        cast(event_timestamp as date) as event_date,
        ---------- lineage
        _loaded_at
    from source
)

select * from renamed
