with

source as (

    select * from {{ source('lake', 'silver_sales_lines') }}

),

renamed as (

    select
        -- ids
        event_id,
        transaction_id,
        cast(line_number as number(38, 0)) as line_number,
        cast(store_id as number(38, 0)) as store_id,
        cast(product_id as number(38, 0)) as product_id,
        cast(customer_id as number(38, 0)) as customer_id,

        -- properties
        channel,
        payment_type,
        cast(is_late as boolean) as is_late,

        -- numerics
        cast(quantity as number(38, 0)) as quantity,
        cast(unit_price as number(12, 2)) as unit_price_usd,
        cast(discount as number(12, 2)) as discount_usd,
        cast(quantity * unit_price as number(12, 2)) as gross_usd,
        cast(line_revenue as number(12, 2)) as line_revenue_usd,

        -- timestamps (UTC)
        cast(event_time as timestamp_ntz) as sold_at,
        cast(produced_at as timestamp_ntz) as produced_at,
        cast(ingested_at as timestamp_ntz) as ingested_at,
        cast(_loaded_at as timestamp_ntz) as loaded_at

    from source

)

select * from renamed
