{#- Net spend per customer and product category as a running total over the feature snapshots:
    one row from the snapshot where the total changes (visible_from) until the next change
    (changes_at, exclusive). customer_category_spend spreads it over the snapshot dates and
    customer_features takes each customer's top category from it. -#}

with

snapshot_dates as (
    select as_of_date from {{ ref('int_feature_snapshot_dates') }}
),

order_lines as (
    select
        orders.customer_key,
        order_lines.category_code,
        order_lines.net_amount,
        order_lines.ordered_at
    from {{ ref('int_order_lines_deduplicated') }} as order_lines
    inner join {{ ref('orders') }} as orders on order_lines.order_id = orders.order_id
    where orders.customer_key is not null
),

-- Point in time: a line counts from the first snapshot after it (ordered strictly before the
-- as-of date) onward. Each line is placed once, at that snapshot, and the spend as of any later
-- snapshot is a running total. Joining every line to every later snapshot instead would
-- aggregate about 500 million rows at tier L (1M customers, two years), more than the memory cap.
first_visible as (
    select
        order_lines.customer_key,
        order_lines.category_code,
        snapshot_dates.as_of_date as visible_from,
        -- exact money: a purchase and its return net to 0, not to a float residue of 1e-15
        sum(cast(order_lines.net_amount as decimal(18, 4))) as net_amount
    from order_lines
    asof inner join snapshot_dates on order_lines.ordered_at < snapshot_dates.as_of_date
    group by all
)

select
    customer_key,
    category_code,
    visible_from,
    -- the total holds until the next snapshot that sees a new line of this category
    coalesce(lead(visible_from) over per_category, date '9999-12-31') as changes_at,
    cast(sum(net_amount) over per_category as double) as net_revenue
from first_visible
window per_category as (partition by customer_key, category_code order by visible_from)
