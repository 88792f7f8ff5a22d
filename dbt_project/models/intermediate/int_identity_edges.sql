{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ record_loads_written() }}",
    )
}}
{#- One row per piece of evidence that two identifiers belong to the same person, kept as a
    growing log: the daily run appends only the links seen in rows loaded since the last run. -#}

{%- set since -%}
    {% if is_incremental() -%}
    {{ loaded_since_last_build() }}
    {%- else -%}
    true
    {%- endif %}
{%- endset %}

with

contacts as (
    select * from {{ ref('stg_crm__contacts') }} where {{ since }}
),

order_lines as (
    select * from {{ ref('int_order_lines_deduplicated') }} where {{ since }}
),

-- read more than once below, so not materialized: DuckDB would copy the whole table first
web_events as not materialized (
    select * from {{ ref('int_web_events_deduplicated') }} where {{ since }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }} where {{ since }}
),

email_events as (
    select * from {{ ref('stg_crm__email_events') }} where {{ since }}
),

contact_links as (
    -- a contact is a person even without other identifiers: it links to itself
    select 'contact_id' as identifier_type, contact_id as identifier_value,
           linked_identifier_type, linked_identifier_value,
           'crm_contact' as evidence, contact_id as evidence_id, created_at as observed_at, _loaded_at
    from contacts
    cross join lateral (
        values ('contact_id', contact_id), ('email', email_hash), ('phone', phone_hash),
               ('loyalty_id', loyalty_id)
    ) as linked(linked_identifier_type, linked_identifier_value)
    where linked_identifier_value is not null
),

order_links as (
    select 'order_id' as identifier_type, order_id as identifier_value,
           linked_identifier_type, linked_identifier_value,
           'pos_order' as evidence, order_id as evidence_id, ordered_at as observed_at, _loaded_at
    from order_lines
    cross join lateral (
        values ('contact_id', customer_id), ('email', email_hash), ('phone', phone_hash),
               ('loyalty_id', loyalty_id)
    ) as linked(linked_identifier_type, linked_identifier_value)
    where linked_identifier_value is not null
),

login_links as (
    select 'cookie' as identifier_type, user_pseudo_id as identifier_value,
           'contact_id' as linked_identifier_type, user_id as linked_identifier_value,
           'web_login' as evidence, session_id as evidence_id, event_timestamp as observed_at,
           _loaded_at
    from web_events
    where user_id is not null
),

purchase_links as (
    select 'cookie' as identifier_type, user_pseudo_id as identifier_value,
           'order_id' as linked_identifier_type, transaction_id as linked_identifier_value,
           'web_purchase' as evidence, transaction_id as evidence_id,
           event_timestamp as observed_at, _loaded_at
    from web_events
    where event_name = 'purchase' and transaction_id is not null
),

ticket_links as (
    select 'contact_id' as identifier_type, contact_id as identifier_value,
           'email' as linked_identifier_type, email_hash as linked_identifier_value,
           'crm_ticket' as evidence, ticket_id as evidence_id, created_at as observed_at, _loaded_at
    from tickets
    where contact_id is not null and email_hash is not null
),

email_event_links as (
    select 'contact_id' as identifier_type, contact_id as identifier_value,
           'email' as linked_identifier_type, email_hash as linked_identifier_value,
           'crm_email_event' as evidence, campaign_id as evidence_id, occurred_at as observed_at,
           _loaded_at
    from email_events
    where contact_id is not null and email_hash is not null
),

all_links as (
    select * from contact_links
    union all select * from order_links
    union all select * from login_links
    union all select * from purchase_links
    union all select * from ticket_links
    union all select * from email_event_links
),

first_evidence as (
    -- the same link seen again (every login of a cookie) adds nothing: keep its first sighting
    select *
    from all_links
    qualify row_number() over (
        partition by identifier_type, identifier_value, linked_identifier_type,
            linked_identifier_value, evidence
        order by observed_at, evidence_id
    ) = 1
),

keyed as (
    select
        md5(concat_ws('|', identifier_type, identifier_value, linked_identifier_type,
            linked_identifier_value, evidence)) as link_key,
        *
    from first_evidence
),

new_links as (
    -- the key names the link (both identifiers and the evidence), so the known links are looked
    -- up by it alone: one column to hash against the whole log instead of five
    select keyed.*
    from keyed
    {%- if is_incremental() %}
    anti join {{ this }} as known on known.link_key = keyed.link_key
    {%- endif %}
),

final as (
    select *, '{{ invocation_id }}' as _dbt_invocation_id
    from new_links
)

select * from final
