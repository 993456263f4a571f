{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['query_name', 'family', 'batch_id'],
        tmp_relation_type='transient',
        on_schema_change='append_new_columns'
    )
}}

-- One row per sampled event of every streaming micro-batch: its produce-to-gold latency
-- (the moment the batch committed its gold rows minus the event's produce time), with
-- the batch's query, family, commit time and business date: the web store's local date
-- of the newest event the batch carried (its commit time when it carried none), so a
-- day's latency is that of the batches carrying that day's sales, on a live clock and on
-- a replayed timeline alike. Percentiles over these rows are the events' percentiles;
-- a batch keeps at most 5,000 samples, so a day of huge batches is slightly under-weighted.
--
-- Incremental: a run unnests only the ops rows landed since the newest `loaded_at` here
-- (a re-landed batch replaces its rows), so `lakehouse load --follow` does not unnest a
-- day's batches again every cycle. The arrays are read by position, not with LATERAL
-- FLATTEN: the emulator's FLATTEN copies the whole array into every element's row, so a
-- demo's 175,000 samples took 4 GB of memory there; Snowflake reads either form alike.
with recursive

stream_batches as (

    select
        *,
        parse_json(latency_samples_json) as latency_samples

    from {{ ref('stg_lake__stream_batches') }}
    {% if is_incremental() %}
    where {{ landed_since_last_run() }}
    {% endif %}

),

sample_positions (position) as (

    -- 0 up to the most samples an ops row keeps
    select 0

    union all

    select position + 1

    from sample_positions
    where position + 1 < {{ var('latency_samples_per_batch') }}

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
        cast(get(stream_batches.latency_samples, sample_positions.position) as float)
            as latency_ms,
        stream_batches.loaded_at

    from stream_batches
    inner join sample_positions
        on sample_positions.position < array_size(stream_batches.latency_samples)

)

select * from final
