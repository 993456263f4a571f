-- Customer lifetime value = what the customer has spent (historical) + a projection of
-- what they will spend: their average order value x their purchases per year x the
-- years they are expected to stay (var clv_remaining_years). Purchases per year are the
-- customer's orders over the window the data covers (first to latest sale, at least
-- clv_min_observation_days, so a young history does not extrapolate a burst into a
-- year), in whole minutes; AOV x purchases per year is that window's revenue per year.
with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

observed as (

    select
        greatest(
            {{ dbt.datediff('min(sold_at)', 'max(sold_at)', 'minute') }},
            {{ var('clv_min_observation_days') }} * 1440
        ) as observed_minutes

    from orders

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

projected as (

    select
        customers.*,
        observed.observed_minutes,
        -- cents of revenue per year x years, rounded half-up to the cent, exactly
        {{ round_ratio(
            cents('customers.revenue_usd') ~ ' * 525600 * ' ~ var('clv_remaining_years'),
            'observed.observed_minutes'
        ) }} as projected_cents

    from customers
    cross join observed

),

final as (

    select
        customer_id,
        cast(orders as number(38, 0)) as orders,
        cast(units as number(38, 0)) as units,
        cast(revenue_usd as number(18, 2)) as historical_revenue_usd,
        first_purchase_at,
        last_purchase_at,
        {{ divide_money('revenue_usd', 'orders') }} as avg_order_value_usd,
        cast(round(orders * 525600 / observed_minutes, 2) as float) as purchases_per_year,
        cast(projected_cents / 100 as number(18, 2)) as projected_revenue_usd,
        cast(revenue_usd + projected_cents / 100 as number(18, 2)) as lifetime_value_usd

    from projected

)

select * from final
