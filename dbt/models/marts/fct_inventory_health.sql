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

    -- one row: the latest sale in the data and how long the demand window really is
    select
        max(as_of_at) as as_of_at,
        max(window_seconds) as window_seconds

    from demand

),

stock_with_demand as (

    select
        inventory_levels.store_id,
        inventory_levels.product_id,
        inventory_levels.on_hand,
        coalesce(inventory_levels.safety_stock, products.safety_stock) as safety_stock,
        inventory_levels.is_below_safety_stock,
        coalesce(demand.units_sold, 0) as units_sold,
        demand_window.window_seconds,
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
        -- units a day at the window's pace: units / (window seconds / 86400)
        units_sold * 86400 / window_seconds as avg_daily_units,
        -- on hand / daily units, in days; null when nothing sold
        {{ safe_divide('on_hand * window_seconds', 'units_sold * 86400') }} as days_of_supply,
        -- the instant stock runs out at that pace, counted from the as-of timestamp
        case when units_sold > 0 then {{ dbt.dateadd(
            'second',
            'cast(floor(greatest(on_hand, 0) * window_seconds / units_sold) as number(38, 0))',
            'as_of_at'
        ) }} end as projected_sell_through_at

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
        cast(supply.units_sold as number(38, 0)) as units_sold_last_7d,
        cast(round(supply.window_seconds / 3600, 2) as number(18, 2)) as demand_window_hours,
        cast(round(supply.avg_daily_units, 2) as number(18, 2)) as avg_daily_units_last_7d,
        cast(round(supply.days_of_supply, 1) as number(18, 1)) as days_of_supply,
        -- that instant's date in the store's own time zone
        cast(
            {{ to_local_time(
                'supply.projected_sell_through_at',
                'coalesce(stores.time_zone, ' ~ web_store_time_zone() ~ ')'
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
