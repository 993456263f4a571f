-- Units sold per store and product over the demand window: the `inventory_demand_days`
-- (7) days up to the latest sale in the data ("now" is the latest sale event_time, not
-- the wall clock: the simulator runs on its own clock, and a replayed history must give
-- the same answer). The window is as long as the data behind it: hours from the first
-- sale to the latest, capped at the 7 days (and at least one hour), so a young lake
-- neither understates demand nor overstates days of supply.
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
            {{ var('inventory_demand_days') }} * 86400,
            greatest(3600, {{ dbt.datediff('first_sale_at', 'as_of_at', 'second') }})
        ) as window_seconds

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
        cast(demand_window.window_seconds as number(38, 0)) as window_seconds,
        demand_window.as_of_at

    from units_in_window
    cross join demand_window

)

select * from final
