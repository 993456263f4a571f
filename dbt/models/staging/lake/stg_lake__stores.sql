with

source as (

    select * from {{ source('lake', 'reference_stores') }}

),

renamed as (

    select
        cast(store_id as number(38, 0)) as store_id,
        store_name,
        store_type,
        city,
        region,
        cast(opened_on as date) as opened_on,
        store_type = 'online' as is_online,
        -- the zone of the store's business day; the web store's when the lake has none
        coalesce(time_zone, {{ web_store_time_zone() }}) as time_zone

    from source

)

select * from renamed
