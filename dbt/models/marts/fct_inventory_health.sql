with

inventory_levels as (

    select * from {{ ref('stg_lake__inventory_levels') }}

),

demand as (

    select * from {{ ref('int_store_product_demand_averaged') }}

),

stores as (

    select * from {{ ref('dim_stores') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

demand_window as (

    -- one row: the latest sale in the data and how many days the window covers
    select
        max(as_of_at) as as_of_at,
        max(window_days) as window_days

    from demand

),

stock_with_demand as (

    select
        inventory_levels.store_id,
        inventory_levels.product_id,
        inventory_levels.on_hand,
        coalesce(inventory_levels.safety_stock, products.safety_stock) as safety_stock,
        inventory_levels.is_below_safety_stock,
        coalesce(demand.units_sold, 0) as units_sold_last_7d,
        coalesce(demand.units_sold, 0) / demand_window.window_days as avg_daily_units_last_7d,
        demand_window.as_of_at

    from inventory_levels
    cross join demand_window
    left join demand
        on inventory_levels.store_id = demand.store_id
        and inventory_levels.product_id = demand.product_id
    left join products
        on inventory_levels.product_id = products.product_id

),

supply as (

    select
        *,
        round({{ safe_divide('on_hand', 'avg_daily_units_last_7d') }}, 1) as days_of_supply

    from stock_with_demand

),

final as (

    select
        supply.store_id,
        stores.store_name,
        supply.product_id,
        products.product_name,
        products.category_code,
        cast(supply.on_hand as number(38, 0)) as on_hand,
        cast(supply.safety_stock as number(38, 0)) as safety_stock,
        supply.is_below_safety_stock,
        cast(supply.units_sold_last_7d as number(38, 0)) as units_sold_last_7d,
        cast(round(supply.avg_daily_units_last_7d, 2) as number(18, 2)) as avg_daily_units_last_7d,
        cast(supply.days_of_supply as number(18, 1)) as days_of_supply,
        -- the day stock runs out at the current pace; null when nothing sells
        cast(
            {{ dbt.dateadd(
                'day',
                'cast(floor(greatest(supply.days_of_supply, 0)) as integer)',
                'cast(supply.as_of_at as date)'
            ) }} as date
        ) as projected_sell_through_date,
        cast(row_number() over (
            order by supply.on_hand, supply.days_of_supply nulls last,
                supply.store_id, supply.product_id
        ) as number(38, 0)) as low_stock_rank,
        supply.as_of_at

    from supply
    left join stores
        on supply.store_id = stores.store_id
    left join products
        on supply.product_id = products.product_id

)

select * from final
