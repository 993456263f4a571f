with

source as (

    select * from {{ source('lake', 'ops_stream_batches') }}

),

renamed as (

    select
        -- ids
        query_name,
        family,
        cast(batch_id as number(38, 0)) as batch_id,

        -- numerics
        cast(duration_ms as number(38, 0)) as duration_ms,
        cast(input_rows as number(38, 0)) as input_rows,
        cast(quarantined_rows as number(38, 0)) as quarantined_rows,
        cast(valid_events as number(38, 0)) as valid_events,
        cast(duplicate_events as number(38, 0)) as duplicate_events,
        cast(late_events as number(38, 0)) as late_events,
        cast(stored_events as number(38, 0)) as stored_events,
        cast(latency_p50_ms as float) as latency_p50_ms,
        cast(latency_p95_ms as float) as latency_p95_ms,
        cast(latency_max_ms as float) as latency_max_ms,
        -- the batch's sampled produce-to-gold latencies, a JSON array of milliseconds
        latency_sample_ms as latency_samples_json,

        -- timestamps (UTC)
        cast(started_at as timestamp_ntz) as started_at,
        cast(committed_at as timestamp_ntz) as committed_at,
        cast(watermark as timestamp_ntz) as watermark_at,
        cast(max_event_time as timestamp_ntz) as max_event_at,
        cast(_loaded_at as timestamp_ntz) as loaded_at

    from source

)

select * from renamed
