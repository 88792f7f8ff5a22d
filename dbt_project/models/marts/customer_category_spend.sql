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

-- A category's total holds over a range of snapshots, and its share over the snapshots between
-- two changes of any of the customer's categories: the shares are computed once per such piece and
-- then spread over its snapshots. Spreading the totals first and computing the shares per customer
-- and snapshot took 102 s at tier L, a window over 150M rows that spilled 5 GB; this way 24 s
-- (docs/performance.md).
-- Only the totals that hold on a snapshot built are read (a daily run: the open ones), once, so
-- they are a table the two readers share. Their change points are enough: the last change at or
-- before a date built starts a total that still holds on it.
running_totals as materialized (
    select customer_key, category_code, visible_from, changes_at, net_revenue
    from {{ ref('int_category_spend_running') }}
    where changes_at > (select min(as_of_date) from dates_to_build)
        and visible_from <= (select max(as_of_date) from dates_to_build)
),

change_points as (
    -- the snapshots where any of the customer's category totals change, each until the next
    select
        customer_key,
        visible_from as changes_from,
        coalesce(
            lead(visible_from) over (partition by customer_key order by visible_from),
            date '9999-12-31'
        ) as changes_at
    from (select distinct customer_key, visible_from from running_totals)
    qualify changes_at > (select min(as_of_date) from dates_to_build)
),

pieces as (
    -- the totals that hold from each change point until the next
    select
        running_totals.customer_key,
        change_points.changes_from,
        change_points.changes_at,
        running_totals.category_code,
        running_totals.net_revenue
    from change_points
    inner join running_totals
        on change_points.customer_key = running_totals.customer_key
        and change_points.changes_from >= running_totals.visible_from
        and change_points.changes_from < running_totals.changes_at
),

shares as (
    select
        *,
        -- share of the positive spend, so a category that is net returned cannot push it past 1
        case
            when sum(greatest(net_revenue, 0)) over per_piece > 0
                then greatest(net_revenue, 0) / sum(greatest(net_revenue, 0)) over per_piece
        end as share
    from pieces
    window per_piece as (partition by customer_key, changes_from)
),

final as (
    select
        shares.customer_key,
        dates_to_build.as_of_date,
        shares.category_code,
        shares.net_revenue,
        shares.share
    from shares
    inner join dates_to_build
        on dates_to_build.as_of_date >= shares.changes_from
        and dates_to_build.as_of_date < shares.changes_at
)

select * from final
