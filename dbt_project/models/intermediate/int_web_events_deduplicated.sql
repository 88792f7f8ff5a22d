{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_key',
        pre_hook="{{ record_loads_written() }}",
    )
}}

with

events as (
    select * from {{ ref('stg_web__events') }}
    {% if is_incremental() %}
    -- the daily run reads only rows loaded since the last run
    where {{ loaded_since_last_build() }}
    {% endif %}
),

deduplicated as (
    -- the same event exported twice is one event
    select *
    from events
    qualify row_number() over (partition by event_key order by _loaded_at desc) = 1
),

final as (
    select
        *,
        '{{ invocation_id }}' as _dbt_invocation_id
    from deduplicated
)

select * from final
