{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_key',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ delete_rows_of_an_older_version() }}",
            "{{ record_labels_written(with_loads=true) }}",
        ],
    )
}}
{#- Incremental, like orders and web_sessions: a daily run writes the events loaded since its last
    build and the events whose contact or email was labelled again in identity resolution; every
    other event keeps its customer. -#}

with

email_events as (
    select * from {{ ref('int_email_events_deduplicated') }}
    where {{ loaded_or_relabelled({'contact_id': 'contact_id', 'email': 'email_hash'}) }}
),

-- read more than once below, so not materialized: DuckDB would copy the whole table first
identifiers as not materialized (
    -- anonymous and excluded identifiers too: their null key falls through the coalesce below,
    -- and their label number tells when the event was last resolved
    select * from {{ ref('int_identity_components') }}
),

final as (
    select
        ---------- ids
        email_events.event_key,
        coalesce(by_contact.customer_key, by_email.customer_key) as customer_key,
        email_events.campaign_id,
        ---------- properties
        email_events.event_type,
        ---------- timestamps
        email_events.occurred_at,
        ---------- lineage
        email_events._loaded_at,
        greatest(by_contact._labelled_in, by_email._labelled_in) as _labelled_in
    from email_events
    left join identifiers as by_contact
        on by_contact.identifier_type = 'contact_id'
        and by_contact.identifier_value = email_events.contact_id
    left join identifiers as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier_value = email_events.email_hash
)

select * from final
