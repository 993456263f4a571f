-- One row per sampled event of every streaming micro-batch: its produce-to-gold latency
-- (the moment the batch committed its gold rows minus the event's produce time), with
-- the batch's query, family, commit time and business date: the web store's local date
-- of the newest event the batch carried (its commit time when it carried none), so a
-- day's latency is that of the batches carrying that day's sales, on a live clock and on
-- a replayed timeline alike. Percentiles over these rows are the events' percentiles;
-- a batch keeps at most 5,000 samples, so a day of huge batches is slightly under-weighted.
with

stream_batches as (

    select * from {{ ref('stg_lake__stream_batches') }}

),

final as (

    select
        stream_batches.query_name,
        stream_batches.family,
        stream_batches.batch_id,
        stream_batches.committed_at,
        cast(
            {{ to_local_time(
                'coalesce(stream_batches.max_event_at, stream_batches.committed_at)',
                web_store_time_zone()
            ) }} as date
        ) as batch_date,
        cast(samples.value as float) as latency_ms,
        stream_batches.loaded_at

    from stream_batches,
        lateral flatten(input => parse_json(stream_batches.latency_samples_json)) as samples

)

select * from final
