{#- What an incremental model that is not a log of rows remembers between builds: the newest edge
    load it has read and the settings it was built with, one row per model in
    dbt_meta.incremental_state. int_identifiers_excluded holds only the identifiers excluded, so
    its own rows cannot tell how far it has read, and a change of its thresholds means
    recomputing every identifier. int_category_spend_running keeps as its settings the regular
    snapshot dates it placed lines at (macros/category_spend_incremental.sql). -#}

{#- The state the last build of this model recorded, as {'loaded_through': ..., 'settings': ...};
    none on a first build, a full refresh, or when nothing is recorded. -#}
{% macro incremental_state() %}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set state_table = adapter.get_relation(
        database=this.database, schema='dbt_meta', identifier='incremental_state') -%}
    {%- if state_table is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query(
        "select loaded_through::varchar, settings from " ~ state_table
        ~ " where model = '" ~ this.schema ~ "." ~ this.identifier ~ "'") -%}
    {%- if found.rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'loaded_through': found.rows[0][0], 'settings': found.rows[0][1]}) }}
{% endmacro %}

{#- Post-hook: record that this build read every edge up to `loaded_through` (a query) with
    `settings` (a string). -#}
{% macro record_incremental_state(loaded_through, settings) %}
    create schema if not exists dbt_meta;
    create table if not exists dbt_meta.incremental_state (
        model varchar primary key,
        loaded_through timestamp,
        settings varchar,
        invocation_id varchar,
        recorded_at timestamp
    );
    insert or replace into dbt_meta.incremental_state
    select
        '{{ this.schema }}.{{ this.identifier }}',
        ({{ loaded_through }}),
        '{{ settings | replace("'", "''") }}',
        '{{ invocation_id }}',
        now()::timestamp
{% endmacro %}
