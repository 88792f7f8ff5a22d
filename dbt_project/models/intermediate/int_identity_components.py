"""Identity resolution: connected components of the identity graph, one customer_key each.

Nodes are the identifiers (contact ids, hashed emails and phones, loyalty cards, browser cookies)
and orders of int_identity_edges. An edge joins its two nodes unless one of them is excluded
(shared, int_identifiers_excluded); an excluded identifier keeps its row, flagged, in no
component. DuckDB numbers the nodes and joins the result; scipy's connected_components labels the
integer graph, where SQL label propagation would need one self-join per hop of the longest chain.

A daily (incremental) build labels again only the components its changes can alter. The changes
are the edges loaded since the last build and the identifiers whose exclusion changed, in either
direction (so a new threshold in identity_max_people_per_identifier applies on the next run).
Every component holding a node they touch is labelled again from all its edges and written with
delete+insert on the node; a component no change touches has no edge added or dropped, so its
rows stand. Each row carries, in _loaded_at, the newest edge load its build had seen (the next
build's watermark for new edges) and, in _labelled_in, the number of the build that wrote it:
one more than the last, also on a full refresh, so the marts that follow (identity_merges) find
the rows labelled since they last read.
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
# the columns a build of an older version lacks; such a table is rebuilt whole
ROW_STATE_COLUMNS = {"is_excluded", "_loaded_at", "_labelled_in"}


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["identifier_type", "identifier_value"],
        on_schema_change="append_new_columns",
    )
    dbt.ref("int_identity_edges").create_view("identity_edges")
    dbt.ref("int_identifiers_excluded").create_view("excluded_now")
    loaded_through = session.sql(
        "select coalesce(max(_loaded_at), timestamp '1900-01-01') from identity_edges"
    ).fetchall()[0][0]
    previous = repr(dbt.this)
    previous_columns = columns_of(session, dbt.this)
    relabel_touched_only = dbt.is_incremental and previous_columns >= ROW_STATE_COLUMNS
    last_build = (
        session.sql(f"select coalesce(max(_labelled_in), 0) from {previous}").fetchall()[0][0]
        if "_labelled_in" in previous_columns
        else 0
    )
    if relabel_touched_only:
        number_touched_components(session, previous)
    else:
        number_every_node(session)
    label_components(session, check_closed=relabel_touched_only)
    return keyed_rows(session, loaded_through, build=last_build + 1)


def columns_of(session, relation):
    """The columns of the table as built before, none when it does not exist yet."""
    return {
        row[0]
        for row in session.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = ? and table_schema = ? and table_name = ?",
            [relation.database, relation.schema, relation.identifier],
        ).fetchall()
    }


def number_every_node(session):
    """graph_nodes: every identifier and order of the edge log, numbered from 0."""
    session.execute(
        """
        create or replace temp table graph_nodes as
        select row_number() over () - 1 as node_id, identifier_type, identifier_value
        from (
            select identifier_type, identifier_value from identity_edges
            union
            select linked_identifier_type, linked_identifier_value from identity_edges
        )
        """
    )


def number_touched_components(session, previous):
    """graph_nodes: the nodes whose component a change since the last build can alter.

    A new edge alters the components of its two endpoints; an identifier newly excluded, its own
    component (its edges there are dropped). An identifier no longer excluded joins the
    components of all its neighbours. A component holding none of these keeps every edge it had.
    """
    session.execute(
        f"""
        create or replace temp table changed_nodes as
        with
        watermark as (
            select coalesce(max(_loaded_at), timestamp '1900-01-01') as loaded_at from {previous}
        ),
        new_edges as (
            select * from identity_edges where _loaded_at > (select loaded_at from watermark)
        ),
        excluded_before as (
            select identifier_type, identifier_value from {previous} where is_excluded
        ),
        excluded_after as (
            select identifier_type, identifier_value from excluded_now
        ),
        no_longer_excluded as (
            select * from excluded_before except select * from excluded_after
        )
        select identifier_type, identifier_value, false as is_lifted from new_edges
        union
        select linked_identifier_type, linked_identifier_value, false from new_edges
        union
        select *, false from (select * from excluded_after except select * from excluded_before)
        union
        select *, true from no_longer_excluded
        """
    )
    session.execute(
        f"""
        create or replace temp table graph_nodes as
        with
        lifted as (
            select identifier_type, identifier_value from changed_nodes where is_lifted
        ),
        touched as (
            select identifier_type, identifier_value from changed_nodes
            union
            select edges.linked_identifier_type, edges.linked_identifier_value
            from identity_edges as edges
            semi join lifted
                on lifted.identifier_type = edges.identifier_type
                and lifted.identifier_value = edges.identifier_value
            union
            select edges.identifier_type, edges.identifier_value
            from identity_edges as edges
            semi join lifted
                on lifted.identifier_type = edges.linked_identifier_type
                and lifted.identifier_value = edges.linked_identifier_value
        ),
        touched_components as (
            select distinct previous.customer_key_identifier
            from {previous} as previous
            semi join touched using (identifier_type, identifier_value)
            where previous.customer_key_identifier is not null
        ),
        relabelled as (
            select identifier_type, identifier_value from touched
            union
            select previous.identifier_type, previous.identifier_value
            from {previous} as previous
            semi join touched_components using (customer_key_identifier)
        )
        select row_number() over () - 1 as node_id, identifier_type, identifier_value
        from relabelled
        """
    )


def label_components(session, *, check_closed):
    """node_components: each node of graph_nodes with the number of its connected component."""
    session.execute(
        """
        create or replace temp view usable_pairs as
        with touching as (
            select edges.identifier_type, edges.identifier_value,
                   edges.linked_identifier_type, edges.linked_identifier_value,
                   left_node.node_id as left_id, right_node.node_id as right_id
            from identity_edges as edges
            left join graph_nodes as left_node
                on left_node.identifier_type = edges.identifier_type
                and left_node.identifier_value = edges.identifier_value
            left join graph_nodes as right_node
                on right_node.identifier_type = edges.linked_identifier_type
                and right_node.identifier_value = edges.linked_identifier_value
            where left_node.node_id is not null or right_node.node_id is not null
        )
        select left_id, right_id
        from touching
        -- two anti joins on equality, so hash joins: one `not exists` with `or` was planned as
        -- a nested loop comparing every edge with every excluded identifier
        anti join excluded_now as excluded_from
            on excluded_from.identifier_type = touching.identifier_type
            and excluded_from.identifier_value = touching.identifier_value
        anti join excluded_now as excluded_to
            on excluded_to.identifier_type = touching.linked_identifier_type
            and excluded_to.identifier_value = touching.linked_identifier_value
        """
    )
    if check_closed:
        open_edges = session.sql(
            "select count(*) from usable_pairs where left_id is null or right_id is null"
        ).fetchall()[0][0]
        if open_edges:
            # the relabelled components would be cut along these edges
            raise RuntimeError(
                f"int_identity_components: {open_edges} usable edge(s) join a component being "
                "labelled again to one left as it was. The edge log changed other than by "
                "appending (rows removed, or loaded again under an older _loaded_at). Rebuild "
                "the identity models with --full-refresh."
            )
    pairs = session.sql(
        "select left_id, right_id from usable_pairs "
        "where left_id is not null and right_id is not null"
    ).fetchnumpy()
    left_ids, right_ids = pairs["left_id"], pairs["right_id"]
    node_count = session.sql("select count(*) from graph_nodes").fetchall()[0][0]
    graph = coo_matrix(
        (
            np.ones(len(left_ids), dtype=np.int8),
            (left_ids.astype(np.int64), right_ids.astype(np.int64)),
        ),
        shape=(node_count, node_count),
    )
    if node_count:
        _, component = connected_components(graph, directed=False)
    else:
        component = np.empty(0, dtype=np.int64)
    session.register(
        "node_components",
        pa.table(
            {
                "node_id": pa.array(np.arange(node_count), pa.int64()),
                "component_id": pa.array(component, pa.int64()),
            }
        ),
    )


def keyed_rows(session, loaded_through, build):
    """One row per node of graph_nodes: its customer, or that it is excluded."""
    return session.sql(
        f"""
        with nodes as (
            select graph_nodes.identifier_type, graph_nodes.identifier_value,
                   node_components.component_id,
                   excluded_now.identifier_type is not null as is_excluded
            from graph_nodes
            inner join node_components using (node_id)
            left join excluded_now
                on excluded_now.identifier_type = graph_nodes.identifier_type
                and excluded_now.identifier_value = graph_nodes.identifier_value
        ),
        labelled as (
            select *, {AUTHORITY_SQL} as authority_rank from nodes
        ),
        keyed as (
            select
                component_id,
                bool_or(identifier_type in {PERSON_TYPES_SQL}) as is_person,
                arg_min(identifier_type || ':' || identifier_value,
                        (authority_rank, identifier_value)) as key_identifier,
                count(*) as component_size
            from labelled
            where not is_excluded
            group by component_id
        )
        select
            labelled.identifier_type,
            labelled.identifier_value,
            -- a component of only orders and cookies is an anonymous visitor, not a customer
            case when keyed.is_person then md5(keyed.key_identifier) end as customer_key,
            keyed.key_identifier as customer_key_identifier,
            keyed.component_size,
            labelled.is_excluded,
            timestamp '{loaded_through}' as _loaded_at,
            {build}::bigint as _labelled_in
        from labelled
        left join keyed using (component_id)
        """
    )
