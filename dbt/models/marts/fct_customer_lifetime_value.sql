with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

customers as (

    -- anonymous till baskets (no loyalty card) have no customer and are left out
    select
        customer_id,
        count(*) as orders,
        sum(units) as units,
        sum(revenue_usd) as revenue_usd,
        min(sold_at) as first_purchase_at,
        max(sold_at) as last_purchase_at

    from orders
    where customer_id is not null
    group by customer_id

),

final as (

    select
        customer_id,
        cast(orders as number(38, 0)) as orders,
        cast(units as number(38, 0)) as units,
        cast(revenue_usd as number(18, 2)) as revenue_usd,
        first_purchase_at,
        last_purchase_at,
        {{ divide_money('revenue_usd', 'orders') }} as avg_basket_usd

    from customers

)

select * from final
