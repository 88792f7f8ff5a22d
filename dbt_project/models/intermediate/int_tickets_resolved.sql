with

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
),

identifiers as (
    select * from {{ ref('int_identity_components') }}
    where customer_key is not null
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
        tickets._loaded_at
    from tickets
    left join identifiers as by_contact
        on by_contact.identifier_type = 'contact_id'
        and by_contact.identifier_value = tickets.contact_id
    left join identifiers as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier_value = tickets.email_hash
)

select * from final
