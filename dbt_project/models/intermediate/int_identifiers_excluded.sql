{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['identifier_type', 'identifier_value'],
        pre_hook="{{ delete_exclusions_recounted_in_full() }}",
        post_hook="{{ record_identity_exclusion_state() }}",
    )
}}
{#- Guard rail of identity resolution: a shareable identifier (email, phone, loyalty card, browser
    cookie) seen with more distinct people than allowed is not used to merge anybody. People are
    counted as the distinct identifiers of another person-level type (contact ids, emails, phones,
    loyalty cards) it appears with, directly or on the same order.

    Incremental: a daily run recounts only the identifiers the edges loaded since the last build
    reach (their endpoints, and everyone on an order that gained a link); the counts of the others
    did not change. A change of the thresholds recounts every identifier
    (macros/identity_incremental.sql). -#}
{%- set thresholds = var('identity_max_people_per_identifier') %}
{%- for identifier_type in ['email', 'phone', 'loyalty_id', 'cookie'] %}
    {%- if thresholds is not mapping or thresholds.get(identifier_type) is not number
          or thresholds[identifier_type] < 1 %}
        {{ exceptions.raise_compiler_error(
            "var identity_max_people_per_identifier must map email, phone, loyalty_id and cookie "
            ~ "to a whole number of people >= 1; found " ~ thresholds) }}
    {%- endif %}
{%- endfor %}
{%- if var('identity_max_orders_per_day') is not number or var('identity_max_orders_per_day') < 1 %}
    {{ exceptions.raise_compiler_error(
        "var identity_max_orders_per_day must be a whole number >= 1; found "
        ~ var('identity_max_orders_per_day')) }}
{%- endif %}

{%- set scope = identity_exclusion_scope() %}

with

-- read more than once below, so not materialized: DuckDB would copy the whole table first
edges as not materialized (
    select * from {{ ref('int_identity_edges') }}
),
{% if scope.recount_all %}
candidate_links as (
    select identifier_type as node_type, identifier_value as node_value,
           linked_identifier_type as neighbour_type, linked_identifier_value as neighbour_value
    from edges
    union
    select linked_identifier_type, linked_identifier_value, identifier_type, identifier_value
    from edges
),

order_links as (
    select * from candidate_links where node_type = 'order_id'
),
{% else %}
new_edges as (
    select * from edges where _loaded_at > timestamp '{{ scope.loaded_through }}'
),

new_ends as (
    select identifier_type as node_type, identifier_value as node_value from new_edges
    union
    select linked_identifier_type, linked_identifier_value from new_edges
),

new_orders as (
    select * from new_ends where node_type = 'order_id'
),

candidates as (
    -- a new link adds to the counts of its ends, and of everyone on an order that gained it
    select * from (
        select node_type, node_value from new_ends
        union
        select neighbour_type, neighbour_value from ({{ identity_links_of('new_orders') }})
    )
    where node_type in ('email', 'phone', 'loyalty_id', 'cookie')
),

candidate_links as (
    {{ identity_links_of('candidates') }}
),

candidate_orders as (
    select distinct neighbour_type as node_type, neighbour_value as node_value
    from candidate_links
    where neighbour_type = 'order_id'
),

order_links as (
    {{ identity_links_of('candidate_orders') }}
),
{% endif %}

reachable as (
    -- neighbours, and the neighbours of the orders an identifier appears on
    select node_type, node_value, neighbour_type, neighbour_value
    from candidate_links
    union
    select direct.node_type, direct.node_value, via_order.neighbour_type, via_order.neighbour_value
    from candidate_links as direct
    inner join order_links as via_order
        on direct.neighbour_type = 'order_id'
        and via_order.node_value = direct.neighbour_value
),

people_per_type as (
    select
        node_type,
        node_value,
        neighbour_type,
        count(distinct neighbour_value) as linked_people
    from reachable
    where node_type in ('email', 'phone', 'loyalty_id', 'cookie')
        and neighbour_type in ('contact_id', 'email', 'phone', 'loyalty_id')
        and neighbour_type != node_type
    group by node_type, node_value, neighbour_type
),

strongest_evidence as (
    select *
    from people_per_type
    qualify row_number() over (
        partition by node_type, node_value order by linked_people desc, neighbour_type
    ) = 1
),

thresholds as (
    select * from (
        values
        {%- for identifier_type, max_people in thresholds.items() %}
            ('{{ identifier_type }}', {{ max_people }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as t(identifier_type, max_people)
),

too_many_people as (
    select
        strongest_evidence.node_type as identifier_type,
        strongest_evidence.node_value as identifier_value,
        strongest_evidence.linked_people,
        thresholds.max_people,
        'linked to ' || strongest_evidence.linked_people || ' distinct '
            || strongest_evidence.neighbour_type || ' values, more than the '
            || thresholds.max_people || ' allowed per ' || strongest_evidence.node_type
            as reason,
        1 as rule_order
    from strongest_evidence
    inner join thresholds on strongest_evidence.node_type = thresholds.identifier_type
    where strongest_evidence.linked_people > thresholds.max_people
),

orders_per_day as (
    select
        linked_identifier_type as identifier_type,
        linked_identifier_value as identifier_value,
        cast(observed_at as date) as order_day,
        count(distinct identifier_value) as orders
    from edges
    {%- if not scope.recount_all %}
    semi join candidates
        on candidates.node_type = edges.linked_identifier_type
        and candidates.node_value = edges.linked_identifier_value
    {%- endif %}
    where evidence = 'pos_order' and linked_identifier_type in ('email', 'phone', 'loyalty_id')
    group by all
),

too_many_orders_a_day as (
    select
        identifier_type,
        identifier_value,
        max(orders) as linked_people,
        {{ var('identity_max_orders_per_day') }} as max_people,
        'on ' || max(orders) || ' orders on ' || arg_max(order_day, orders)
            || ', more than the {{ var("identity_max_orders_per_day") }} a person places in a day'
            as reason,
        2 as rule_order
    from orders_per_day
    group by identifier_type, identifier_value
    having max(orders) > {{ var('identity_max_orders_per_day') }}
),

final as (
    select identifier_type, identifier_value, linked_people, max_people, reason
    from (
        select * from too_many_people
        union all
        select * from too_many_orders_a_day
    )
    qualify row_number() over (
        partition by identifier_type, identifier_value order by rule_order
    ) = 1
)

select * from final
