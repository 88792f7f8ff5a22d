{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ record_labels_written() }}", "{{ delete_rows_of_relabelled_nodes() }}"],
    )
}}
{#- Incremental: the links of the identifiers int_identity_components labelled again are deleted
    (pre-hook) and written as they are now; every other link keeps its customer. -#}

with

edges as (
    select * from {{ ref('int_identity_edges') }}
),

nodes as (
    select * from {{ ref('int_identity_components') }}
    where _labelled_in > {{ labelled_after() }}
),

excluded as (
    select * from {{ ref('int_identifiers_excluded') }}
),

final as (
    select
        edges.link_key,
        this_node.customer_key,
        edges.identifier_type,
        edges.identifier_value,
        edges.linked_identifier_type,
        edges.linked_identifier_value,
        edges.evidence,
        edges.evidence_id,
        edges.observed_at,
        this_node._labelled_in
    from edges
    -- links that touch an excluded identifier merged nobody: an excluded identifier is never a
    -- node, so the inner join drops links from one and the anti join links to one (the small
    -- excluded list, not a second join with every node: 12 s -> 5 s at tier L, same rows)
    inner join nodes as this_node
        on this_node.identifier_type = edges.identifier_type
        and this_node.identifier_value = edges.identifier_value
    anti join excluded
        on excluded.identifier_type = edges.linked_identifier_type
        and excluded.identifier_value = edges.linked_identifier_value
    where this_node.customer_key is not null
        -- a contact's link to itself only puts it in the graph; it merges nothing
        and not (edges.identifier_type = edges.linked_identifier_type
            and edges.identifier_value = edges.linked_identifier_value)
)

select * from final
