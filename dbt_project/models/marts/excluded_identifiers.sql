with

excluded as (
    select * from {{ ref('int_identifiers_excluded') }}
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
        excluded.identifier_type,
        excluded.identifier_value,
        excluded.linked_people,
        excluded.max_people,
        excluded.reason,
        first_seen.first_seen_at
    from excluded
    left join first_seen using (identifier_type, identifier_value)
)

select * from final
