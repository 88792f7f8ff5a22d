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
