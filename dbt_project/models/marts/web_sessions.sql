{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='session_key',
        on_schema_change='append_new_columns',
        pre_hook="{{ record_labels_written(with_loads=true) }}",
    )
}}
{#- Incremental: a daily run writes the sessions loaded since its last build and the sessions
    whose account or browser was labelled again in identity resolution; every other session keeps
    its customer. -#}

with

sessions as (
    select * from {{ ref('int_web_sessions_aggregated') }}
    where {{ loaded_or_relabelled({'contact_id': 'user_id', 'cookie': 'user_pseudo_id'}) }}
),

-- read more than once below, so not materialized: DuckDB would copy the whole table first
identifiers as not materialized (
    -- anonymous and excluded identifiers too: their null key falls through the coalesce below,
    -- and their label number tells when the session was last resolved
    select * from {{ ref('int_identity_components') }}
),

final as (
    select
        ---------- ids
        sessions.session_key,
        sessions.user_pseudo_id,
        sessions.session_id,
        -- a login names the person even on a shared (excluded) cookie
        coalesce(by_login.customer_key, by_cookie.customer_key) as customer_key,
        ---------- properties
        sessions.device_category,
        sessions.user_id is not null as is_logged_in,
        sessions.is_cart_abandoned,
        ---------- numerics
        sessions.page_views,
        sessions.product_views,
        sessions.add_to_carts,
        sessions.checkouts,
        sessions.purchases,
        ---------- timestamps
        sessions.started_at,
        sessions.ended_at,
        ---------- lineage
        sessions._loaded_at,
        greatest(by_login._labelled_in, by_cookie._labelled_in) as _labelled_in
    from sessions
    left join identifiers as by_login
        on by_login.identifier_type = 'contact_id'
        and by_login.identifier_value = sessions.user_id
    left join identifiers as by_cookie
        on by_cookie.identifier_type = 'cookie'
        and by_cookie.identifier_value = sessions.user_pseudo_id
)

select * from final
