{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['order_id', 'line_number'],
        pre_hook="{{ record_loads_written() }}",
    )
}}

with

order_lines as (
    select * from {{ ref('stg_pos__order_lines') }}
    {% if is_incremental() %}
    -- the daily run reads only rows loaded since the last run
    where {{ loaded_since_last_build() }}
    {% endif %}
),

deduplicated as (
    -- a line exported twice (or corrected in a later drop): its latest load wins
    select *
    from order_lines
    qualify row_number() over (
        partition by order_id, line_number order by _loaded_at desc, _source_row desc
    ) = 1
),

final as (
    select
        *,
        '{{ invocation_id }}' as _dbt_invocation_id
    from deduplicated
)

select * from final
