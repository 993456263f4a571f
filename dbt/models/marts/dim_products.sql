with

products as (

    select * from {{ ref('stg_lake__products') }}

),

final as (

    select
        product_id,
        product_name,
        category_id,
        coalesce(category_code, 'uncategorized') as category_code,
        brand,
        list_price_usd,
        safety_stock

    from products

)

select * from final
