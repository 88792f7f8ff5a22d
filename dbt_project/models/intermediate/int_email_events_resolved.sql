with

email_events as (
    select * from {{ ref('int_email_events_deduplicated') }}
),

identifiers as (
    select * from {{ ref('int_identity_components') }}
    where customer_key is not null
),

final as (
    select
        ---------- ids
        coalesce(by_contact.customer_key, by_email.customer_key) as customer_key,
        email_events.campaign_id,
        ---------- properties
        email_events.event_type,
        ---------- timestamps
        email_events.occurred_at
    from email_events
    left join identifiers as by_contact
        on by_contact.identifier_type = 'contact_id'
        and by_contact.identifier_value = email_events.contact_id
    left join identifiers as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier_value = email_events.email_hash
)

select * from final
