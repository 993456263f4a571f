with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

bands as (

    select
        discount_band,
        count(*) as orders,
        sum(units) as units,
        sum(gross_usd) as gross_usd,
        sum(discount_usd) as discount_usd,
        sum(revenue_usd) as revenue_usd

    from orders
    group by discount_band

),

final as (

    select
        discount_band,
        cast({{ discount_band_rank('discount_band') }} as number(38, 0)) as band_rank,
        cast(orders as number(38, 0)) as orders,
        cast(units as number(38, 0)) as units,
        cast(gross_usd as number(18, 2)) as gross_usd,
        cast(discount_usd as number(18, 2)) as discount_usd,
        cast(revenue_usd as number(18, 2)) as revenue_usd,
        {{ divide_money('revenue_usd', 'orders') }} as avg_order_value_usd

    from bands

)

select * from final
