with

source as (

    select * from {{ source('lake', 'loader_state') }}

),

renamed as (

    select
        table_name as lake_table_name,
        cast(delta_version as number(38, 0)) as delta_version,
        cast(rows_inserted as number(38, 0)) as rows_inserted,
        cast(rows_updated as number(38, 0)) as rows_updated,
        cast(loaded_at as timestamp_ntz) as loaded_at

    from source

)

select * from renamed
