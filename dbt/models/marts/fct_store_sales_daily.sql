with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

stores as (

    select * from {{ ref('dim_stores') }}

),

store_daily as (

    select
        sales_date,
        store_id,
        channel,
        count(*) as orders,
        sum(units) as units,
        sum(revenue_usd) as revenue_usd

    from orders
    group by sales_date, store_id, channel

),

final as (

    select
        store_daily.sales_date,
        store_daily.store_id,
        stores.store_name,
        store_daily.channel,
        cast(store_daily.orders as number(38, 0)) as orders,
        cast(store_daily.units as number(38, 0)) as units,
        cast(store_daily.revenue_usd as number(18, 2)) as revenue_usd,
        {{ divide_money('store_daily.revenue_usd', 'store_daily.orders') }} as avg_order_value_usd

    from store_daily
    left join stores
        on store_daily.store_id = stores.store_id

)

select * from final
