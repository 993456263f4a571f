with

source as (

    select * from {{ source('lake', 'silver_clickstream_events') }}

),

renamed as (

    select
        -- ids
        event_id,
        cast(product_id as number(38, 0)) as product_id,
        cast(category_id as number(38, 0)) as category_id,
        cast(user_id as number(38, 0)) as user_id,
        user_session as session_id,

        -- properties
        event_type,
        category_code,
        brand,
        cast(price as number(12, 2)) as price_usd,
        cast(is_late as boolean) as is_late,

        -- timestamps (UTC)
        cast(event_time as timestamp_ntz) as occurred_at,
        cast(_loaded_at as timestamp_ntz) as loaded_at

    from source

)

select * from renamed
