{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        pre_hook="{{ record_snapshots_written() }}",
        post_hook="{{ delete_snapshots_no_longer_listed() }}",
    )
}}

with

dates_to_build as (
    -- incremental: only the snapshots not yet in the history, and the latest day (recomputed),
    -- as constants; the macro that picks them also scopes this model's data tests
    -- (macros/rows_written_by_the_run.sql)
    {{ feature_snapshot_dates_built() }}
),

running_totals as (
    select * from {{ ref('int_category_spend_running') }}
),

spend as (
    select
        running_totals.customer_key,
        dates_to_build.as_of_date,
        running_totals.category_code,
        running_totals.net_revenue
    from running_totals
    inner join dates_to_build
        on dates_to_build.as_of_date >= running_totals.visible_from
        and dates_to_build.as_of_date < running_totals.changes_at
),

final as (
    select
        customer_key,
        as_of_date,
        category_code,
        net_revenue,
        -- share of the positive spend, so a category that is net returned cannot push it past 1
        case
            when sum(greatest(net_revenue, 0)) over (partition by customer_key, as_of_date) > 0
                then greatest(net_revenue, 0)
                    / sum(greatest(net_revenue, 0)) over (partition by customer_key, as_of_date)
        end as share
    from spend
)

select * from final
