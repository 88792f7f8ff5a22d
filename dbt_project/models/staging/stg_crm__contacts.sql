{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='contact_id',
    )
}}
{#- A table, not a view like the other staging models: picking each contact's latest version is a
    window over every version ever loaded, and a daily run read this model eleven times (the
    identity edges, the snapshot dates, customers twice, seven data tests), each computing it
    again: 0.4 to 0.9 s a time at tier L, where customers alone went from 3.5 to 1.6 s on a
    stored copy (docs/performance.md). Incremental: a daily run picks again, from all their
    versions, the latest of the contacts with a version loaded since the newest one it stores;
    every other contact keeps its row (macros/rows_written_by_the_run.sql). -#}

with

source as (
    select * from {{ source('raw', 'crm_contacts') }}
    where {{ versions_of_keys_loaded_since_last_build(
        source('raw', 'crm_contacts'), 'trim(contact_id)') }}
),

latest as (
    -- a contact appears in every daily drop that changed it: keep its latest version
    select *
    from source
    qualify row_number() over (
        partition by trim(contact_id)
        order by updated_at desc, _loaded_at desc, _source_row desc
    ) = 1
),

normalised as (
    select
        *,
        nullif(lower(trim(email)), '') as email_normalised,
        {{ normalise_phone('phone') }} as phone_normalised
    from latest
),

renamed as (
    select
        ---------- ids
        trim(contact_id) as contact_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        {{ hash_pii('email_normalised') }} as email_hash,
        {{ hash_pii('phone_normalised') }} as phone_hash,
        ---------- personal data (only published for consented customers)
        email_normalised as email,
        nullif(trim(first_name), '') as first_name,
        ---------- demographics
        birth_date,
        year(birth_date) as birth_year,
        case
            when lower(trim(gender)) in ('f', 'female', 'w', 'woman', 'weiblich', 'femme') then 'female'
            when lower(trim(gender)) in ('m', 'male', 'man', 'männlich', 'homme') then 'male'
            when nullif(trim(gender), '') is null then 'unknown'
            else 'other'
        end as gender,
        nullif(trim(city), '') as city,
        nullif(upper(replace(trim(postal_code), ' ', '')), '') as postal_code,
        nullif(upper(trim(country)), '') as country,
        ---------- flags
        coalesce(marketing_consent, false) as marketing_consent,
        ---------- timestamps
        created_at,
        updated_at,
        ---------- lineage
        _loaded_at
    from normalised
)

select * from renamed
