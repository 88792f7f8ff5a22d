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

category_spend as (
    -- the totals and their shares per piece of a customer's history, between two changes of any
    -- of their categories: a piece holds on the snapshots from visible_from until changes_at
    select customer_key, category_code, visible_from, changes_at, net_revenue, share
    from {{ ref('int_category_spend_running') }}
),

final as (
    select
        category_spend.customer_key,
        dates_to_build.as_of_date,
        category_spend.category_code,
        category_spend.net_revenue,
        category_spend.share
    from category_spend
    inner join dates_to_build
        on dates_to_build.as_of_date >= category_spend.visible_from
        and dates_to_build.as_of_date < category_spend.changes_at
)

select * from final
