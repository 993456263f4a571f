with

source as (

    select * from {{ source('lake', 'gold_inventory_levels') }}

),

renamed as (

    select
        -- ids
        cast(store_id as number(38, 0)) as store_id,
        cast(product_id as number(38, 0)) as product_id,

        -- numerics
        cast(on_hand as number(38, 0)) as on_hand,
        cast(safety_stock as number(38, 0)) as safety_stock,
        cast(is_below_safety_stock as boolean) as is_below_safety_stock,

        -- timestamps (UTC)
        cast(last_snapshot_at as timestamp_ntz) as last_counted_at,
        cast(last_change_at as timestamp_ntz) as last_changed_at,
        cast(updated_at as timestamp_ntz) as updated_at

    from source

)

select * from renamed
