with

source as (

    select * from {{ source('lake', 'reference_products') }}

),

renamed as (

    select
        cast(product_id as number(38, 0)) as product_id,
        product_name,
        cast(category_id as number(38, 0)) as category_id,
        category_code,
        brand,
        cast(list_price as number(12, 2)) as list_price_usd,
        cast(safety_stock as number(38, 0)) as safety_stock

    from source

)

select * from renamed
