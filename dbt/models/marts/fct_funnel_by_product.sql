-- Per business day and product: how many shopping sessions viewed, carted and bought it,
-- and the rates between those steps (each a share of sessions, never above 1).
with

session_products as (

    select * from {{ ref('int_session_products_pivoted') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

product_days as (

    select
        funnel_date,
        product_id,
        {{ funnel_session_counts() }}

    from session_products
    group by funnel_date, product_id

),

final as (

    select
        product_days.funnel_date,
        product_days.product_id,
        products.product_name,
        coalesce(products.category_code, 'uncategorized') as category_code,
        cast(product_days.sessions as number(38, 0)) as sessions,
        cast(product_days.sessions_viewed as number(38, 0)) as sessions_viewed,
        cast(product_days.sessions_carted as number(38, 0)) as sessions_carted,
        cast(product_days.sessions_purchased as number(38, 0)) as sessions_purchased,
        cast(product_days.sessions_abandoned_cart as number(38, 0)) as sessions_abandoned_cart,
        {{ funnel_rates() }}

    from product_days
    left join products
        on product_days.product_id = products.product_id

)

select * from final
