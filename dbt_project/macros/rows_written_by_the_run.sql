{#- Data tests of the incremental models check the rows the last build wrote, not the whole history.

    A daily run writes one or two feature snapshots and one day of events; the rest of the
    history was tested by the run that wrote it. Testing it again every day made the tests grow
    with the history (116 s of a daily run at tier L, docs/performance.md). So:

    - an incremental model records in a pre-hook, in dbt_meta.rows_written, a condition true for
      every row it is about to write: `as_of_date in (<the snapshots it builds>)` (computed by
      the same macro that picks the snapshots, so a backfill's many snapshots are all in it)
      or `_loaded_at > <the newest load it already holds>` (the watermark its own filter uses);
      a first build or `--full-refresh` records null: every row;
    - a data test opts in with `config: {where: __written_by_the_run__}`; get_where_subquery
      below puts the recorded condition in its place at run time (dbt's documented way to compute
      a test's `where`, which itself can use only var and env_var). No record, or the var
      data_tests_check_all_rows, means every row. The record stays until the model's next build,
      so `dbt test` alone checks what the last build wrote.

    Uniqueness stays sound: these models write with delete+insert on their key (a snapshot's
    whole as_of_date, or the row's own key), which first deletes every old row with a key the run
    writes, so old and new rows cannot collide and a duplicate can only arise among the rows
    written. An append-only model (int_identity_edges) can collide with old rows: its key is
    tested with unique_written_keys (macros/test_unique_written_keys.sql), the keys written
    against the whole table.
    The scope column's own not_null test is not scoped either (a null falls outside the
    condition); it is cheap. -#}

{#- The feature snapshots a build of customer_features or customer_category_spend writes: all of
    them on a first build or a full refresh; otherwise the latest day (recomputed) and the
    snapshot dates not yet in the history.

    Whether the history holds a date is asked once per date, with the date written as a
    constant: DuckDB then skips every row group whose min/max leaves it out (a new date is after
    all of them) and stops at the first row found. Listing the history's distinct dates instead
    read every row, 0.6 s of customer_category_spend's 149M at tier L two years, and this runs
    in the model and again in its pre-hook. -#}
{% macro feature_snapshots_to_build() %}
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
    {%- if is_incremental() %}
    where is_latest
    {%- set earlier = run_query(
        "select as_of_date::varchar from " ~ ref('int_feature_snapshot_dates')
        ~ " where not is_latest order by as_of_date").columns[0].values() if execute else [] %}
    {%- for as_of_date in earlier %}
    union all
    select date '{{ as_of_date }}'
    where not exists (select 1 from {{ this }} where as_of_date = date '{{ as_of_date }}')
    {%- endfor %}
    {%- endif %}
{% endmacro %}

{#- The same snapshots, read when the model runs and written into its SQL as constants. DuckDB
    then knows that a daily run builds one date, and every event is compared with it where it is
    read; joined to the query above, whose size DuckDB cannot know, every source was sorted
    against the dates first (piecewise merge joins, 0.9 s of customer_features' 6.4 s at tier L
    two years). A first build or a full refresh reads the snapshot dates directly. -#}
{% macro feature_snapshot_dates_built() %}
    {%- if execute and is_incremental() %}
    {%- set dates = run_query(
        "select as_of_date::varchar from (" ~ feature_snapshots_to_build() ~ ") order by 1"
    ).columns[0].values() %}
    {%- if dates %}
    select as_of_date
    from (values
        {%- for as_of_date in dates %} (date '{{ as_of_date }}'){{ "," if not loop.last }}
        {%- endfor %}) as built (as_of_date)
    {%- else %}
    select cast(null as date) as as_of_date where false
    {%- endif %}
    {%- else %}
    {{ feature_snapshots_to_build() }}
    {%- endif %}
{% endmacro %}

{#- Post-hook of the feature histories: delete the snapshots the dates no longer list (the
    previous run's latest day, unless it became a snapshot date). The history's distinct dates
    are read first and the stale ones deleted by constant, so DuckDB touches only their row
    groups; one `delete ... where as_of_date not in (...)` tested every row against the list,
    1.7 s on customer_category_spend's 149M rows at tier L two years. -#}
{% macro delete_snapshots_no_longer_listed() %}
    {%- set stale = run_query(
        "with present as (select distinct as_of_date from " ~ this ~ ")"
        ~ " select as_of_date::varchar from present"
        ~ " where as_of_date < (select max(as_of_date) from " ~ ref('int_feature_snapshot_dates') ~ ")"
        ~ " and as_of_date not in (select as_of_date from " ~ ref('int_feature_snapshot_dates') ~ ")"
        ~ " order by 1"
    ).columns[0].values() if execute else [] %}
    {%- if stale %}
    delete from {{ this }}
    where as_of_date in ({% for as_of_date in stale %}date '{{ as_of_date }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif %}
{% endmacro %}

{#- Pre-hook: store `predicate` (a query returning one SQL condition, or null for every row) as
    what this build of the model writes. Runs before the model's own statement, so `this` is
    still the previous build. -#}
{% macro record_rows_written(predicate) %}
    create schema if not exists dbt_meta;
    create table if not exists dbt_meta.rows_written (
        model varchar primary key,
        written_where varchar,
        invocation_id varchar,
        recorded_at timestamp
    );
    insert or replace into dbt_meta.rows_written
    select
        '{{ this.schema }}.{{ this.identifier }}',
        {% if is_incremental() %}({{ predicate }}){% else %}null{% endif %},
        '{{ invocation_id }}',
        now()::timestamp
{% endmacro %}

{% macro record_snapshots_written() %}
    {#- the list, not `>=` its earliest: a snapshot with no rows (customer_category_spend before
        the first purchase) is built again on every run and would widen the scope to every row -#}
    {{ record_rows_written(
        "select 'as_of_date in (' || string_agg('date ''' || as_of_date || '''', ', '"
        ~ " order by as_of_date) || ')' from (" ~ feature_snapshots_to_build() ~ ")"
    ) }}
{% endmacro %}

{#- The incremental filter of the models that read raw rows as they are loaded: rows loaded since
    the newest one the model already holds (every row when it holds none). -#}
{% macro loaded_since_last_build() -%}
    _loaded_at > (select coalesce(max(_loaded_at), timestamp '1900-01-01') from {{ this }})
{%- endmacro %}

{#- The incremental filter of the staging models that keep each key's latest version
    (stg_crm__contacts, stg_crm__tickets): every version, the older ones too, of the keys with a
    version loaded since the newest load among the latest versions the model holds. The model's
    window then picks those keys' latest version again, and delete+insert on the key replaces
    their rows; every other key keeps its row. Every row on a first build or a full refresh.

    The newest load the model holds moves only when a loaded version becomes the latest: a day
    that re-exports only older versions (a stale export) leaves it, and the keys of that day are
    picked again on each run until a newer load comes. Correct, and a few rows. -#}
{% macro versions_of_keys_loaded_since_last_build(source_relation, key) -%}
    {%- if is_incremental() -%}
    {{ key }} in (
        select {{ key }} from {{ source_relation }} where {{ loaded_since_last_build() }}
    )
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}

{% macro record_loads_written() %}
    {#- what loaded_since_last_build() lets in; a null max means every row -#}
    {{ record_rows_written(
        "select '_loaded_at > timestamp ''' || max(_loaded_at) || '''' from " ~ this
    ) }}
{% endmacro %}

{#- The recorded condition for `relation`, or `true` (every row) when none is recorded, the
    record table does not exist yet, or the var data_tests_check_all_rows is set. -#}
{% macro rows_written_where(relation) %}
    {%- if not execute or var('data_tests_check_all_rows', false) -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set record_table = adapter.get_relation(
        database=relation.database, schema='dbt_meta', identifier='rows_written') -%}
    {%- if record_table is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set found = run_query(
        "select written_where from " ~ record_table ~ " where model = '"
        ~ relation.schema ~ "." ~ relation.identifier ~ "'") -%}
    {%- if found.rows | length == 0 or found.rows[0][0] is none -%}
        {{ return('true') }}
    {%- endif -%}
    {{ return(found.rows[0][0]) }}
{% endmacro %}

{#- dbt's own get_where_subquery (global project), with the placeholder filled in. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__written_by_the_run__' in where -%}
        {%- set where = where | replace('__written_by_the_run__', rows_written_where(relation)) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of int_identity_components and the marts that follow it: the data tests check the
    rows this build numbers (macros/identity_incremental.sql) and, `with_loads` (orders,
    web_sessions, which also take the rows loaded since their last build), those rows too. -#}
{% macro record_labels_written(with_loads=false) %}
    {%- set numbered = is_incremental() and has_column(this, '_labelled_in') %}
    {%- set loads = "'_loaded_at > timestamp ''' || max(_loaded_at) || ''' or ' || " %}
    {{ record_rows_written(
        "select " ~ (loads if with_loads else "") ~ "'_labelled_in > ' || "
        ~ "coalesce(max(_labelled_in), 0) from " ~ this
        if numbered else "select null"
    ) }}
{% endmacro %}

{#- The columns of `names` that `relation` (built by an earlier version, perhaps) lacks, from one
    query of its columns; every name at parse time, when dbt runs no query. -#}
{% macro missing_columns(relation, names) %}
    {%- if not execute -%}
        {{ return(names) }}
    {%- endif -%}
    {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {{ return(names | reject('in', present) | list) }}
{% endmacro %}

{#- Whether `relation` has the column `name`. -#}
{% macro has_column(relation, name) %}
    {{ return(not missing_columns(relation, [name])) }}
{% endmacro %}
