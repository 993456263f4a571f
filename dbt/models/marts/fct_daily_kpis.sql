{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='kpi_date',
        tmp_relation_type='transient',
        on_schema_change='append_new_columns'
    )
}}

-- One row per business date (each order on its store's local date). Incremental, for
-- `lakehouse load --follow`: a run rebuilds only the dates that rows landed since the
-- newest `loaded_at` already here belong to, each date whole from every row of it.
with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

latency_samples as (

    -- the sales path: produce time to the sales stream's gold commit
    select * from {{ ref('int_latency_samples_unnested') }}
    where family = 'sales'

),

{% if is_incremental() %}
changed_dates as (

    select sales_date as kpi_date
    from orders
    where {{ landed_since_last_run() }}
    union
    select batch_date as kpi_date
    from latency_samples
    where {{ landed_since_last_run() }}

),
{% endif %}

daily_sales as (

    select
        sales_date as kpi_date,
        count(*) as orders,
        sum(units) as units,
        sum(revenue_usd) as revenue_usd,
        count(distinct customer_id) as distinct_customers,
        max(loaded_at) as loaded_at

    from orders
    {% if is_incremental() %}
    where sales_date in (select kpi_date from changed_dates)
    {% endif %}
    group by sales_date

),

daily_latency as (

    -- the day's p95 over every sampled sale, not an average of batch percentiles
    select
        batch_date as kpi_date,
        percentile_cont(0.95) within group (order by latency_ms) as streaming_latency_ms,
        max(loaded_at) as loaded_at

    from latency_samples
    group by batch_date

),

final as (

    select
        daily_sales.kpi_date,
        cast(daily_sales.orders as number(38, 0)) as orders,
        cast(daily_sales.units as number(38, 0)) as units,
        cast(daily_sales.revenue_usd as number(18, 2)) as revenue_usd,
        {{ divide_money('daily_sales.revenue_usd', 'daily_sales.orders') }} as avg_order_value_usd,
        cast(daily_sales.distinct_customers as number(38, 0)) as distinct_customers,
        cast(round(daily_latency.streaming_latency_ms, 1) as float) as streaming_latency_ms,
        greatest(
            daily_sales.loaded_at, coalesce(daily_latency.loaded_at, daily_sales.loaded_at)
        ) as loaded_at

    from daily_sales
    left join daily_latency
        on daily_sales.kpi_date = daily_latency.kpi_date

)

select * from final
