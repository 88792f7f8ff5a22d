with

identifiers as (
    select * from {{ ref('int_identity_components') }}
    where customer_key is not null and identifier_type != 'order_id'
),

first_seen as (
    select identifier_type, identifier_value, min(observed_at) as first_seen_at
    from (
        select identifier_type, identifier_value, observed_at from {{ ref('int_identity_edges') }}
        union all
        select linked_identifier_type, linked_identifier_value, observed_at
        from {{ ref('int_identity_edges') }}
    )
    group by identifier_type, identifier_value
),

final as (
    select
        identifiers.customer_key,
        identifiers.identifier_type,
        identifiers.identifier_value,
        identifiers.identifier_type || ':' || identifiers.identifier_value
            = identifiers.customer_key_identifier as is_key_identifier,
        first_seen.first_seen_at
    from identifiers
    left join first_seen using (identifier_type, identifier_value)
)

select * from final
