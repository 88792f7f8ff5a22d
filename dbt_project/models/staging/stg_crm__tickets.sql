{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='ticket_id',
    )
}}
{#- A table, like stg_crm__contacts and for the same reason: picking each ticket's latest load is
    a window over every version ever loaded, and the identity edges, int_tickets_resolved and the
    data tests each computed it again from a view. Incremental: a daily run picks again, from all
    their versions, the latest of the tickets with a version loaded since the newest one it
    stores; every other ticket keeps its row (macros/rows_written_by_the_run.sql). -#}

with

source as (
    select * from {{ source('raw', 'crm_tickets') }}
    where {{ versions_of_keys_loaded_since_last_build(
        source('raw', 'crm_tickets'), 'trim(ticket_id)') }}
),

latest as (
    -- a ticket re-exported after a status change: keep its latest load
    select *
    from source
    qualify row_number() over (
        partition by trim(ticket_id) order by _loaded_at desc, _source_row desc
    ) = 1
),

renamed as (
    select
        ---------- ids
        trim(ticket_id) as ticket_id,
        nullif(trim(contact_id), '') as contact_id,
        {{ hash_pii("nullif(lower(trim(email)), '')") }} as email_hash,
        ---------- properties
        nullif(lower(trim(category)), '') as category,
        nullif(lower(trim(status)), '') as status,
        case when satisfaction_score between 1 and 5 then satisfaction_score end
            as satisfaction_score,
        ---------- timestamps
        created_at,
        ---------- lineage
        _loaded_at
    from latest
)

select * from renamed
