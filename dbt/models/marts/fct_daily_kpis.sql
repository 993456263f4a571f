with

orders as (

    select * from {{ ref('int_orders_aggregated') }}

),

stream_batches as (

    select * from {{ ref('stg_lake__stream_batches') }}

),

daily_sales as (

    select
        sales_date as kpi_date,
        count(*) as orders,
        sum(units) as units,
        sum(revenue_usd) as revenue_usd,
        count(distinct customer_id) as distinct_customers

    from orders
    group by sales_date

),

daily_latency as (

    -- a batch belongs to the day of the newest event it carried
    select
        cast(max_event_at as date) as kpi_date,
        median(latency_p95_ms) as streaming_latency_ms

    from stream_batches
    where max_event_at is not null
      and latency_p95_ms is not null
    group by cast(max_event_at as date)

),

final as (

    select
        daily_sales.kpi_date,
        cast(daily_sales.orders as number(38, 0)) as orders,
        cast(daily_sales.units as number(38, 0)) as units,
        cast(daily_sales.revenue_usd as number(18, 2)) as revenue_usd,
        {{ divide_money('daily_sales.revenue_usd', 'daily_sales.orders') }} as avg_order_value_usd,
        cast(daily_sales.distinct_customers as number(38, 0)) as distinct_customers,
        cast(daily_latency.streaming_latency_ms as float) as streaming_latency_ms

    from daily_sales
    left join daily_latency
        on daily_sales.kpi_date = daily_latency.kpi_date

)

select * from final
