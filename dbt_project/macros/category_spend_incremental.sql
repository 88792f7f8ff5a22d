{#- int_category_spend_running on a daily run: only the customers whose running totals can have
    changed are computed again, each from all of their order lines, and written with
    delete+insert on customer_key (every old row of a customer written goes). They are the
    customers with
    - an order line loaded since the last build (`_loaded_at`),
    - an order labelled again (`_labelled_in`): a merge or a split may have given it another
      customer,
    - a line ordered on or after the newest regular snapshot (of this build or the last, the
      older): the latest day sees it, and that day moves every day,
    - a total placed at a day no longer listed: the previous latest day, or a date the history
      window left behind.
    A pre-hook deletes the customers no order belongs to any more (a merge keeps one of two
    keys). Every customer is computed again on a first build, a full refresh, a table of an
    older version (without `_loaded_at` or `_labelled_in`, which the daily run reads, or
    without `share`: a row per category total, not per piece), or when a regular snapshot date
    is listed that is older than the newest the last build knew and was not among its dates
    (another cadence or anchor, or older activity loaded late): lines already placed may
    belong to it. -#}

{#- The regular (cadence) snapshot dates, comma-separated: what the build remembers. -#}
{% macro category_spend_snapshot_dates() -%}
    {%- if execute -%}
        {{ return(run_query(
            "select coalesce(string_agg(as_of_date::varchar, ',' order by as_of_date), '') from "
            ~ ref('int_feature_snapshot_dates') ~ " where not is_latest").columns[0].values()[0]) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- Whether this build computes every customer again (see above). -#}
{% macro category_spend_rebuild_all() -%}
    {%- if not (execute and is_incremental())
          or missing_columns(this, ['_loaded_at', '_labelled_in', 'share']) -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set state = incremental_state() -%}
    {%- if state is none or not state.settings -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set previous = state.settings.split(',') -%}
    {%- set newest = previous | max -%}
    {%- for as_of_date in category_spend_snapshot_dates().split(',') -%}
        {%- if as_of_date and as_of_date <= newest and as_of_date not in previous -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}

{#- Pre-hook: empty the table before computing every customer again, or else delete the
    customers no order belongs to any more. -#}
{% macro delete_category_spend_to_rebuild() -%}
    {%- if is_incremental() and category_spend_rebuild_all() %}
    delete from {{ this }}
    {%- else %}
    {{ delete_customers_no_longer_found(ref('orders')) }}
    {%- endif %}
{%- endmacro %}

{#- Pre-hook: the rows this build writes, for its data tests (macros/rows_written_by_the_run.sql):
    every row when it computes every customer, else the rows it stamps with its invocation. -#}
{% macro record_category_spend_written() %}
    {{ record_rows_written(
        "select null" if category_spend_rebuild_all()
        else "select '_dbt_invocation_id = ''" ~ invocation_id ~ "'''"
    ) }}
{% endmacro %}
