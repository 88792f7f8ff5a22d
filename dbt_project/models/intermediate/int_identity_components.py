"""Identity resolution: connected components of the identity graph, one customer_key each.

Nodes are identifiers (contact ids, hashed emails and phones, loyalty cards, browser cookies) and
orders; edges are int_identity_edges minus any edge touching an excluded (shared) identifier.
DuckDB numbers the nodes and joins the result; scipy's connected_components labels the integer
graph, where SQL label propagation would need one self-join per hop of the longest chain.
"""

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# The identifier a customer_key is derived from: the most authoritative type present in the
# component, then its smallest value, so the key does not change while that identifier stays.
AUTHORITY_SQL = """
    case identifier_type
        when 'contact_id' then 0 when 'loyalty_id' then 1 when 'email' then 2
        when 'phone' then 3 when 'cookie' then 4 else 5
    end
"""
PERSON_TYPES_SQL = "('contact_id', 'loyalty_id', 'email', 'phone')"


def model(dbt, session):
    dbt.config(materialized="table")
    edges = dbt.ref("int_identity_edges")
    excluded = dbt.ref("int_identifiers_excluded")
    session.register("shared_identifiers", excluded.to_arrow_table())
    usable_edges = edges.query(
        "identity_edges",
        """
        select
            edges.identifier_type,
            edges.identifier_value,
            edges.linked_identifier_type,
            edges.linked_identifier_value
        from identity_edges as edges
        -- two anti joins on equality, so hash joins: one `not exists` with `or` was planned as
        -- a nested loop comparing every edge with every excluded identifier
        anti join shared_identifiers as excluded_from
            on excluded_from.identifier_type = edges.identifier_type
            and excluded_from.identifier_value = edges.identifier_value
        anti join shared_identifiers as excluded_to
            on excluded_to.identifier_type = edges.linked_identifier_type
            and excluded_to.identifier_value = edges.linked_identifier_value
        """,
    ).to_arrow_table()
    session.register("usable_edges", usable_edges)
    session.execute(
        """
        create or replace temp table identity_nodes as
        select row_number() over () - 1 as node_id, identifier_type, identifier_value
        from (
            select identifier_type, identifier_value from usable_edges
            union
            select linked_identifier_type, linked_identifier_value from usable_edges
        )
        """
    )
    pairs = session.sql(
        """
        select left_node.node_id as left_id, right_node.node_id as right_id
        from usable_edges
        inner join identity_nodes as left_node
            on left_node.identifier_type = usable_edges.identifier_type
            and left_node.identifier_value = usable_edges.identifier_value
        inner join identity_nodes as right_node
            on right_node.identifier_type = usable_edges.linked_identifier_type
            and right_node.identifier_value = usable_edges.linked_identifier_value
        """
    ).fetchnumpy()
    node_count = session.sql("select count(*) from identity_nodes").fetchall()[0][0]
    graph = coo_matrix(
        (
            np.ones(len(pairs["left_id"]), dtype=np.int8),
            (pairs["left_id"].astype(np.int64), pairs["right_id"].astype(np.int64)),
        ),
        shape=(node_count, node_count),
    )
    _, component = connected_components(graph, directed=False)
    session.register(
        "node_components",
        pa.table(
            {
                "node_id": pa.array(np.arange(node_count), pa.int64()),
                "component_id": pa.array(component, pa.int64()),
            }
        ),
    )
    return session.sql(
        f"""
        with labelled as (
            select identity_nodes.*, node_components.component_id,
                   {AUTHORITY_SQL} as authority_rank
            from identity_nodes
            inner join node_components using (node_id)
        ),
        keyed as (
            select
                component_id,
                bool_or(identifier_type in {PERSON_TYPES_SQL}) as is_person,
                arg_min(identifier_type || ':' || identifier_value,
                        (authority_rank, identifier_value)) as key_identifier,
                count(*) as component_size
            from labelled
            group by component_id
        )
        select
            labelled.identifier_type,
            labelled.identifier_value,
            -- a component of only orders and cookies is an anonymous visitor, not a customer
            case when keyed.is_person then md5(keyed.key_identifier) end as customer_key,
            keyed.key_identifier as customer_key_identifier,
            keyed.component_size
        from labelled
        inner join keyed using (component_id)
        """
    )
