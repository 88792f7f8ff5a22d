{#- How the identity models follow a daily run without reading the whole history again
    (docs/customer-model.md, Identity resolution): the exclusions are recounted for the
    identifiers new edges reach, int_identity_components labels again the components they touch,
    and the marts that follow rewrite the rows of what was labelled again. -#}

{#- The settings int_identifiers_excluded applies, as one string to compare between builds. -#}
{% macro identity_exclusion_settings() -%}
    {{ tojson({
        'identity_max_people_per_identifier': var('identity_max_people_per_identifier'),
        'identity_max_orders_per_day': var('identity_max_orders_per_day'),
    }, sort_keys=True) }}
{%- endmacro %}

{#- Which identifiers int_identifiers_excluded recounts: every one on a first build, a full
    refresh, or when its settings changed (a threshold raised frees identifiers that no new edge
    touches); otherwise those whose counts the edges loaded since `loaded_through` can raise.
    Counts only grow as edges are added, so an identifier they do not touch keeps its verdict. -#}
{% macro identity_exclusion_scope() %}
    {%- set state = incremental_state() -%}
    {%- if state is none or state.settings != identity_exclusion_settings() -%}
        {{ return({'recount_all': true, 'loaded_through': none}) }}
    {%- endif -%}
    {{ return({'recount_all': false, 'loaded_through': state.loaded_through}) }}
{% endmacro %}

{#- Pre-hook: before recounting every identifier incrementally, drop the old verdicts (an
    identifier freed by a new threshold has no row to replace its old one). -#}
{% macro delete_exclusions_recounted_in_full() -%}
    {%- if is_incremental() and identity_exclusion_scope().recount_all %}
    delete from {{ this }}
    {%- endif %}
{%- endmacro %}

{#- Post-hook: the edges read and the settings applied, for the next build's scope. -#}
{% macro record_identity_exclusion_state() -%}
    {{ record_incremental_state(
        "select coalesce(max(_loaded_at), timestamp '1900-01-01') from "
            ~ ref('int_identity_edges'),
        identity_exclusion_settings()) }}
{%- endmacro %}

{#- Every link of the nodes in the relation `nodes` (node_type, node_value), seen from the node's
    side, read from the CTE `edges` of the calling model. -#}
{% macro identity_links_of(nodes) %}
    select edges.identifier_type as node_type, edges.identifier_value as node_value,
           edges.linked_identifier_type as neighbour_type,
           edges.linked_identifier_value as neighbour_value
    from edges
    semi join {{ nodes }} as nodes
        on nodes.node_type = edges.identifier_type and nodes.node_value = edges.identifier_value
    union
    select edges.linked_identifier_type, edges.linked_identifier_value,
           edges.identifier_type, edges.identifier_value
    from edges
    semi join {{ nodes }} as nodes
        on nodes.node_type = edges.linked_identifier_type
        and nodes.node_value = edges.linked_identifier_value
{% endmacro %}

{#- The marts that follow identity resolution (identity_merges) rewrite only the rows of the
    identifiers int_identity_components labelled again. Each components build numbers the rows it
    writes (_labelled_in, one more than the last build); such a mart keeps the number of the row
    it read, and the nodes to rewrite are those labelled after the newest number it holds.

    `labelled_after()` is that number, read when the model is compiled, before its pre-hook
    deletes the old rows (which may hold the newest one). A first build, a full refresh, a table
    written by an older version without _labelled_in, and a components table numbered afresh
    (dropped and built again) get every node.

    A mart whose rows seldom read a newly labelled identifier (the tickets: a day's tickets
    mostly come from contacts no change touched) holds an older newest number than the graph,
    and rewrites the rows of every identifier labelled since then: more rows than needed, never
    fewer, until one of its rows reads a newer number. -#}
{% macro labelled_after() -%}
    {%- if is_incremental() and has_column(this, '_labelled_in') -%}
        {%- set newest = run_query(
            "select case when max(written._labelled_in) <= (select max(_labelled_in) from "
            ~ ref('int_identity_components') ~ ") then max(written._labelled_in) else 0 end"
            ~ " from " ~ this ~ " as written") -%}
        {{ newest.rows[0][0] or 0 }}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: delete the rows of the identifiers (identifier_type, identifier_value) labelled
    again; the model then appends their rows as they are now. Deleting, not upserting, is what
    drops a link to an identifier that became excluded: it has no row to upsert. -#}
{% macro delete_rows_of_relabelled_nodes() -%}
    {%- if is_incremental() %}
    delete from {{ this }} as written
    using (
        select identifier_type, identifier_value
        from {{ ref('int_identity_components') }}
        where _labelled_in > {{ labelled_after() }}
    ) as relabelled
    where written.identifier_type = relabelled.identifier_type
        and written.identifier_value = relabelled.identifier_value
    {%- endif %}
{%- endmacro %}

{#- The filter of such a mart (orders, web_sessions) on its source: the rows loaded since its
    last build, or whose identifiers were labelled again since the newest number it holds.
    `identifiers` maps an identifier type to the source column holding it. True on a first build,
    a full refresh, and for a table written by an older version. -#}
{% macro loaded_or_relabelled(identifiers) -%}
    {%- if is_incremental() and has_column(this, '_labelled_in') -%}
        {%- set after = labelled_after() -%}
        ({{ loaded_since_last_build() }}
        {%- for identifier_type, column in identifiers.items() %}
        or {{ column }} in (
            select identifier_value from {{ ref('int_identity_components') }}
            where identifier_type = '{{ identifier_type }}' and _labelled_in > {{ after }}
        )
        {%- endfor %})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of a mart whose older version had no key to rewrite its rows by
    (int_email_events_resolved): such a table is emptied and written whole. -#}
{% macro delete_rows_of_an_older_version() -%}
    {%- if is_incremental() and not has_column(this, '_labelled_in') %}
    delete from {{ this }}
    {%- endif %}
{%- endmacro %}

{#- Pre-hook of customers (and of int_category_spend_running, with `keys_from` its orders):
    delete the customers whose key `keys_from` no longer holds; by default the keys identity
    resolution gives to identifiers (a merge keeps one of the two keys). -#}
{% macro delete_customers_no_longer_found(keys_from=none) -%}
    {%- if is_incremental() %}
    delete from {{ this }}
    where customer_key not in (
        select customer_key from {{ keys_from or ref('int_identity_components') }}
        where customer_key is not null
    )
    {%- endif %}
{%- endmacro %}
