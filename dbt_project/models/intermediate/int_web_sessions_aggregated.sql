{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_key',
        pre_hook="{{ record_loads_written() }}",
    )
}}

{%- set new_events -%}
    select session_key, event_timestamp from {{ ref('int_web_events_deduplicated') }}
    where {{ loaded_since_last_build() }}
{%- endset %}

{#- Incremental: every event of a session that received events since the last run is at or after
    the earliest of those new events or the session's start as stored. That time, read first and
    written into the filter as a constant, lets DuckDB skip the older events by their row groups'
    min/max; matching every event's session_key against the new ones grew with the history. -#}
{%- if is_incremental() and execute %}
    {%- set earliest = run_query(
        "select least((select min(event_timestamp) from (" ~ new_events ~ ")),"
        ~ " (select min(started_at) from " ~ this ~ " where session_key in"
        ~ " (select session_key from (" ~ new_events ~ "))))::varchar"
    ).columns[0].values()[0] %}
{%- endif %}

with

events as (
    select * from {{ ref('int_web_events_deduplicated') }}
    {% if is_incremental() %}
    -- re-aggregate only the sessions that received events since the last run (a session may
    -- cross midnight and arrive in two drops)
    where {% if earliest is none %} false {% else %} event_timestamp >= timestamp '{{ earliest }}'
        and session_key in (select session_key from ({{ new_events }})) {% endif %}
    {% endif %}
),

aggregated as (
    select
        ---------- ids
        session_key,
        any_value(user_pseudo_id) as user_pseudo_id,
        any_value(session_id) as session_id,
        max(user_id) as user_id,
        ---------- properties
        mode(device_category) as device_category,
        ---------- numerics
        count(*) filter (where event_name = 'page_view') as page_views,
        count(*) filter (where event_name = 'view_item') as product_views,
        count(*) filter (where event_name = 'add_to_cart') as add_to_carts,
        count(*) filter (where event_name = 'begin_checkout') as checkouts,
        count(*) filter (where event_name = 'purchase') as purchases,
        ---------- timestamps
        min(event_timestamp) as started_at,
        max(event_timestamp) as ended_at,
        ---------- lineage
        max(_loaded_at) as _loaded_at
    from events
    group by session_key
),

final as (
    select
        *,
        add_to_carts > 0 and purchases = 0 as is_cart_abandoned,
        '{{ invocation_id }}' as _dbt_invocation_id
    from aggregated
)

select * from final
