with

stream_batches as (

    select * from {{ ref('stg_lake__stream_batches') }}

),

latency_samples as (

    select * from {{ ref('int_latency_samples_unnested') }}

),

quarantine_events as (

    select * from {{ ref('stg_lake__quarantine_events') }}

),

loader_states as (

    select * from {{ ref('stg_lake__loader_states') }}

),

queries as (

    -- one streaming query reads every family's topic and writes one ops row per family
    -- and micro-batch, so the grain is the query and the family
    select
        query_name,
        family,
        count(*) as batches,
        sum(input_rows) as input_rows,
        sum(late_events) as late_events,
        sum(duplicate_events) as duplicate_events,
        sum(quarantined_rows) as quarantined_rows,
        max(committed_at) as last_batch_at

    from stream_batches
    group by query_name, family

),

query_latency as (

    -- percentiles over every sampled event of the query, not medians of batch percentiles
    select
        query_name,
        family,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95_ms

    from latency_samples
    group by query_name, family

),

quarantine_by_family as (

    select
        family,
        count(*) as quarantined_events_landed

    from quarantine_events
    group by family

),

last_load as (

    -- when the loader last landed the batch metrics these rows summarise
    select max(loaded_at) as last_loaded_at

    from loader_states
    where lake_table_name = 'ops.stream_batches'
      and delta_version is not null

),

final as (

    select
        queries.query_name,
        queries.family,
        cast(queries.batches as number(38, 0)) as batches,
        cast(queries.input_rows as number(38, 0)) as input_rows,
        cast(queries.late_events as number(38, 0)) as late_events,
        cast(queries.duplicate_events as number(38, 0)) as duplicate_events,
        cast(queries.quarantined_rows as number(38, 0)) as quarantined_rows,
        cast(coalesce(quarantine_by_family.quarantined_events_landed, 0) as number(38, 0))
            as quarantined_events_landed,
        cast(round(query_latency.latency_p50_ms, 1) as float) as latency_p50_ms,
        cast(round(query_latency.latency_p95_ms, 1) as float) as latency_p95_ms,
        queries.last_batch_at,
        last_load.last_loaded_at

    from queries
    cross join last_load
    left join query_latency
        on queries.query_name = query_latency.query_name
        and queries.family = query_latency.family
    left join quarantine_by_family
        on queries.family = quarantine_by_family.family

)

select * from final
