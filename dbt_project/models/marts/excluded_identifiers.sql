with

-- read more than once below, so not materialized: DuckDB would copy the whole table first
excluded as not materialized (
    select * from {{ ref('int_identifiers_excluded') }}
),

first_seen as (
    -- only the excluded identifiers' edges, found by a semi join: grouping every edge of the
    -- graph to keep a few thousand grew with the history
    select identifier_type, identifier_value, min(observed_at) as first_seen_at
    from (
        select edges.identifier_type, edges.identifier_value, edges.observed_at
        from {{ ref('int_identity_edges') }} as edges
        semi join excluded
            on excluded.identifier_type = edges.identifier_type
            and excluded.identifier_value = edges.identifier_value
        union all
        select edges.linked_identifier_type, edges.linked_identifier_value, edges.observed_at
        from {{ ref('int_identity_edges') }} as edges
        semi join excluded
            on excluded.identifier_type = edges.linked_identifier_type
            and excluded.identifier_value = edges.linked_identifier_value
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
