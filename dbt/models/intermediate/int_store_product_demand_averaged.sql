-- Units sold per store and product over the last `inventory_demand_days` days, and the
-- average per day. "Now" is the latest sale event_time in the data, not the wall clock:
-- the simulator runs on its own clock, and a replayed history must give the same answer.
-- When the data covers fewer days than the window, the average divides by the days
-- covered (whole days, at least 1), so a fresh lake does not understate demand.
with

sales_lines as (

    select * from {{ ref('stg_lake__sales_lines') }}

),

sales_span as (

    select
        max(sold_at) as as_of_at,
        min(sold_at) as first_sale_at

    from sales_lines

),

demand_window as (

    select
        as_of_at,
        {{ dbt.dateadd('day', -var('inventory_demand_days'), 'as_of_at') }} as window_start_at,
        least(
            {{ var('inventory_demand_days') }},
            greatest(1, {{ dbt.datediff('first_sale_at', 'as_of_at', 'day') }} + 1)
        ) as window_days

    from sales_span

),

units_in_window as (

    select
        sales_lines.store_id,
        sales_lines.product_id,
        sum(sales_lines.quantity) as units_sold

    from sales_lines
    cross join demand_window
    where sales_lines.sold_at > demand_window.window_start_at
    group by sales_lines.store_id, sales_lines.product_id

),

final as (

    select
        units_in_window.store_id,
        units_in_window.product_id,
        units_in_window.units_sold,
        demand_window.window_days,
        demand_window.as_of_at

    from units_in_window
    cross join demand_window

)

select * from final
