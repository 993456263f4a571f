with

stores as (

    select * from {{ ref('stg_lake__stores') }}

),

final as (

    select
        store_id,
        store_name,
        store_type,
        city,
        region,
        opened_on,
        is_online,
        time_zone

    from stores

)

select * from final
