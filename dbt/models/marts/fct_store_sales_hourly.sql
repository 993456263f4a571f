with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

stores as (

    select * from {{ ref('dim_stores') }}

),

store_hourly as (

    select
        sales_hour,
        store_id,
        channel,
        count(*) as orders,
        sum(units) as units,
        sum(revenue_usd) as revenue_usd

    from orders
    group by sales_hour, store_id, channel

),

final as (

    select
        cast(store_hourly.sales_hour as timestamp_ntz) as sales_hour,
        store_hourly.store_id,
        stores.store_name,
        store_hourly.channel,
        cast(store_hourly.orders as number(38, 0)) as orders,
        cast(store_hourly.units as number(38, 0)) as units,
        cast(store_hourly.revenue_usd as number(18, 2)) as revenue_usd,
        {{ divide_money('store_hourly.revenue_usd', 'store_hourly.orders') }} as avg_order_value_usd

    from store_hourly
    left join stores
        on store_hourly.store_id = stores.store_id

)

select * from final
