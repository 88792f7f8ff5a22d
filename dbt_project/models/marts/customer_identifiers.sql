{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ record_labels_written() }}", "{{ delete_rows_of_relabelled_nodes() }}"],
    )
}}
{#- Incremental: the identifiers int_identity_components labelled again are deleted (pre-hook)
    and written as they are now; every other identifier keeps its customer. An identifier's first
    sighting changes only with a new edge, and a new edge's ends are labelled again. -#}

with

relabelled as (
    select * from {{ ref('int_identity_components') }}
    where _labelled_in > {{ labelled_after() }}
),

identifiers as (
    select * from relabelled
    where customer_key is not null and identifier_type != 'order_id'
),

-- read more than once below, so not materialized: DuckDB would copy the whole table first
edges as not materialized (
    select * from {{ ref('int_identity_edges') }}
),

first_seen as (
    select identifier_type, identifier_value, min(observed_at) as first_seen_at
    from (
        select edges.identifier_type, edges.identifier_value, edges.observed_at
        from edges
        semi join identifiers
            on identifiers.identifier_type = edges.identifier_type
            and identifiers.identifier_value = edges.identifier_value
        union all
        select edges.linked_identifier_type, edges.linked_identifier_value, edges.observed_at
        from edges
        semi join identifiers
            on identifiers.identifier_type = edges.linked_identifier_type
            and identifiers.identifier_value = edges.linked_identifier_value
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
        first_seen.first_seen_at,
        identifiers._labelled_in
    from identifiers
    left join first_seen using (identifier_type, identifier_value)
)

select * from final
