{#- The as-of dates the feature history keeps: every N days from the anchor (weekly by default)
    within the history window, plus the latest day. The latest day is the day after the newest
    order, web event or contact, unless the var features_as_of_date pins it. -#}
{%- set every = var('feature_snapshot_every_days') %}
{%- if every is not number or every < 1 or var('feature_history_days') is not number %}
    {{ exceptions.raise_compiler_error(
        "vars feature_snapshot_every_days and feature_history_days must be whole numbers of days "
        ~ "(>= 1); found " ~ every ~ " and " ~ var('feature_history_days')) }}
{%- endif %}
{%- for name in ['feature_snapshot_anchor_date', 'features_as_of_date'] %}
    {%- set value = var(name) %}
    {%- if value and not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', value | string) %}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a date like 2025-03-10; found " ~ value) }}
    {%- endif %}
{%- endfor %}

with

activity_days as (
    select order_date as activity_date from {{ ref('int_orders_aggregated') }}
    union all
    select cast(started_at as date) from {{ ref('int_web_sessions_aggregated') }}
    union all
    select cast(created_at as date) from {{ ref('stg_crm__contacts') }}
),

bounds as (
    select
        min(activity_date) + 1 as first_as_of_date,
        {% if var('features_as_of_date') -%}
        date '{{ var("features_as_of_date") }}'
        {%- else -%}
        max(activity_date) + 1
        {%- endif %} as latest_as_of_date
    from activity_days
),

every_n_days as (
    select
        cast(unnest(generate_series(
            timestamp '{{ var("feature_snapshot_anchor_date") }}',
            cast(latest_as_of_date as timestamp),
            interval {{ var('feature_snapshot_every_days') }} day
        )) as date) as as_of_date
    from bounds
),

cadence as (
    select every_n_days.as_of_date
    from every_n_days
    cross join bounds
    where every_n_days.as_of_date >= bounds.first_as_of_date
        and every_n_days.as_of_date
            >= bounds.latest_as_of_date - {{ var('feature_history_days') }}
),

final as (
    select
        as_of_date,
        true as is_cadence_snapshot,
        as_of_date = (select latest_as_of_date from bounds) as is_latest
    from cadence
    union
    select latest_as_of_date, false, true
    from bounds
    where latest_as_of_date is not null
        and latest_as_of_date not in (select as_of_date from cadence)
)

select * from final
