with

sessions as (
    select * from {{ ref('int_web_sessions_aggregated') }}
),

identifiers as (
    select * from {{ ref('int_identity_components') }}
    where customer_key is not null
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
        sessions.ended_at
    from sessions
    left join identifiers as by_login
        on by_login.identifier_type = 'contact_id'
        and by_login.identifier_value = sessions.user_id
    left join identifiers as by_cookie
        on by_cookie.identifier_type = 'cookie'
        and by_cookie.identifier_value = sessions.user_pseudo_id
)

select * from final
