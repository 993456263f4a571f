-- The funnel per business day and category: a session that viewed two kettles counts
-- once for kettles, so every rate is still a share of sessions.
with

session_products as (

    select * from {{ ref('int_session_products_pivoted') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

session_categories as (

    select
        session_products.funnel_date,
        session_products.session_id,
        coalesce(products.category_code, 'uncategorized') as category_code,
        max(case when session_products.has_viewed then 1 else 0 end) = 1 as has_viewed,
        max(case when session_products.has_carted then 1 else 0 end) = 1 as has_carted,
        max(case when session_products.has_purchased then 1 else 0 end) = 1 as has_purchased

    from session_products
    left join products
        on session_products.product_id = products.product_id
    group by 1, 2, 3

),

category_days as (

    select
        funnel_date,
        category_code,
        {{ funnel_session_counts() }}

    from session_categories
    group by funnel_date, category_code

),

final as (

    select
        funnel_date,
        category_code,
        cast(sessions as number(38, 0)) as sessions,
        cast(sessions_viewed as number(38, 0)) as sessions_viewed,
        cast(sessions_carted as number(38, 0)) as sessions_carted,
        cast(sessions_purchased as number(38, 0)) as sessions_purchased,
        cast(sessions_abandoned_cart as number(38, 0)) as sessions_abandoned_cart,
        {{ funnel_rates() }}

    from category_days

)

select * from final
