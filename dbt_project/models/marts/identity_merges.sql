with

edges as (
    select * from {{ ref('int_identity_edges') }}
),

nodes as (
    select * from {{ ref('int_identity_components') }}
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
        edges.observed_at
    from edges
    -- inner joins drop links that touch an excluded identifier: they merged nobody
    inner join nodes as this_node
        on this_node.identifier_type = edges.identifier_type
        and this_node.identifier_value = edges.identifier_value
    inner join nodes as linked_node
        on linked_node.identifier_type = edges.linked_identifier_type
        and linked_node.identifier_value = edges.linked_identifier_value
    where this_node.customer_key is not null
        -- a contact's link to itself only puts it in the graph; it merges nothing
        and not (edges.identifier_type = edges.linked_identifier_type
            and edges.identifier_value = edges.linked_identifier_value)
)

select * from final
