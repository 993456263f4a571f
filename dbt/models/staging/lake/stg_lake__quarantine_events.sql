with

source as (

    select * from {{ source('lake', 'silver_quarantine_events') }}

),

renamed as (

    select
        -- ids
        topic,
        cast("PARTITION" as number(38, 0)) as kafka_partition,
        cast("OFFSET" as number(38, 0)) as kafka_offset,
        event_id,

        -- properties
        family,
        event_type,
        reason,
        reason_detail,

        -- timestamps (UTC)
        cast(kafka_timestamp as timestamp_ntz) as kafka_timestamp_at,
        cast(ingested_at as timestamp_ntz) as ingested_at

    from source

)

select * from renamed
