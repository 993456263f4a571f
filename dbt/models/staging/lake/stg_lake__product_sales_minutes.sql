with

source as (

    select * from {{ source('lake', 'gold_sales_by_product_minute') }}

),

renamed as (

    select
        -- ids
        cast(product_id as number(38, 0)) as product_id,

        -- numerics
        cast(orders as number(38, 0)) as orders,
        cast(units as number(38, 0)) as units,
        cast(revenue as number(18, 2)) as revenue_usd,

        -- timestamps (UTC)
        cast(window_start as timestamp_ntz) as window_start,
        cast(window_end as timestamp_ntz) as window_end,
        cast(updated_at as timestamp_ntz) as updated_at,
        cast(_loaded_at as timestamp_ntz) as loaded_at

    from source

)

select * from renamed
