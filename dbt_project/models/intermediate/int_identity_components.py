"""Identity resolution: connected components of the identity graph, one customer_key each.

Nodes are identifiers (contact ids, hashed emails and phones, loyalty cards, browser cookies) and
orders; edges are int_identity_edges minus any edge touching an excluded (shared) identifier.
scipy's connected_components labels ~1M nodes in about a second, where SQL label propagation
needs one self-join per hop of the longest chain.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# The identifier a customer_key is derived from: the most authoritative type present in the
# component, then its smallest value, so the key does not change while that identifier stays.
AUTHORITY = ["contact_id", "loyalty_id", "email", "phone", "cookie", "order_id"]
PERSON_TYPES = {"contact_id", "loyalty_id", "email", "phone"}


def model(dbt, session):
    dbt.config(materialized="table")
    edges = dbt.ref("int_identity_edges")
    excluded = dbt.ref("int_identifiers_excluded")
    session.register("shared_identifiers", excluded.to_arrow_table())
    usable = edges.query(
        "identity_edges",
        """
        select identifier_type || ':' || identifier_value as node,
               linked_identifier_type || ':' || linked_identifier_value as linked_node
        from identity_edges as edges
        where not exists (
            select 1 from shared_identifiers as excluded
            where (excluded.identifier_type = edges.identifier_type
                   and excluded.identifier_value = edges.identifier_value)
               or (excluded.identifier_type = edges.linked_identifier_type
                   and excluded.identifier_value = edges.linked_identifier_value)
        )
        """,
    ).to_arrow_table()

    nodes, codes = np.unique(
        np.concatenate(
            [
                usable.column("node").to_numpy(zero_copy_only=False),
                usable.column("linked_node").to_numpy(zero_copy_only=False),
            ]
        ).astype(str),
        return_inverse=True,
    )
    n_edges = usable.num_rows
    graph = coo_matrix(
        (np.ones(n_edges, dtype=np.int8), (codes[:n_edges], codes[n_edges:])),
        shape=(len(nodes), len(nodes)),
    )
    _, component = connected_components(graph, directed=False)

    split = pc.split_pattern(pa.array(nodes, pa.string()), ":", max_splits=1)
    identifier_type = pc.list_element(split, 0)
    identifier_value = pc.list_element(split, 1)
    rank = np.array(
        [AUTHORITY.index(t) for t in identifier_type.to_pylist()], dtype=np.int16
    )
    nodes_table = pa.table(
        {
            "identifier_type": identifier_type,
            "identifier_value": identifier_value,
            "component_id": pa.array(component, pa.int64()),
            "authority_rank": pa.array(rank, pa.int16()),
            "is_person_identifier": pa.array(
                np.isin(identifier_type.to_numpy(zero_copy_only=False), list(PERSON_TYPES))
            ),
        }
    )
    session.register("identity_nodes", nodes_table)
    return session.sql(
        """
        with keyed as (
            select
                component_id,
                bool_or(is_person_identifier) as is_person,
                arg_min(identifier_type || ':' || identifier_value,
                        [authority_rank::varchar, identifier_value]) as key_identifier,
                count(*) as component_size
            from identity_nodes
            group by component_id
        )
        select
            identity_nodes.identifier_type,
            identity_nodes.identifier_value,
            -- a component of only orders and cookies is an anonymous visitor, not a customer
            case when keyed.is_person then md5(keyed.key_identifier) end as customer_key,
            keyed.key_identifier as customer_key_identifier,
            keyed.component_size
        from identity_nodes
        inner join keyed using (component_id)
        """
    ).to_arrow_table()
