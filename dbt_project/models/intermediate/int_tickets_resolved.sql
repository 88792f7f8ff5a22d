{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ticket_id',
        on_schema_change='append_new_columns',
        pre_hook="{{ record_labels_written(with_loads=true) }}",
    )
}}
{#- Incremental, like int_email_events_resolved: a daily run writes the tickets loaded since its
    last build and the tickets whose contact or email was labelled again in identity resolution;
    every other ticket keeps its customer. A table written by an older version (without
    _labelled_in) is written whole once, each ticket replacing its row. -#}

with

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
    where {{ loaded_or_relabelled({'contact_id': 'contact_id', 'email': 'email_hash'}) }}
),

-- read more than once below, so not materialized: DuckDB would copy the whole table first
identifiers as not materialized (
    -- anonymous and excluded identifiers too: their null key falls through the coalesce below,
    -- and their label number tells when the ticket was last resolved
    select * from {{ ref('int_identity_components') }}
),

final as (
    select
        ---------- ids
        tickets.ticket_id,
        -- the contact named on the ticket is the stronger evidence; its email is the fallback
        coalesce(by_contact.customer_key, by_email.customer_key) as customer_key,
        ---------- properties
        tickets.category,
        tickets.status,
        tickets.satisfaction_score,
        ---------- timestamps
        tickets.created_at,
        ---------- lineage
        tickets._loaded_at,
        greatest(by_contact._labelled_in, by_email._labelled_in) as _labelled_in
    from tickets
    left join identifiers as by_contact
        on by_contact.identifier_type = 'contact_id'
        and by_contact.identifier_value = tickets.contact_id
    left join identifiers as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier_value = tickets.email_hash
)

select * from final
