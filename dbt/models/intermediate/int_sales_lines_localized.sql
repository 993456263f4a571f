-- Every silver sales line with its store's business date and hour: the store's local
-- wall-clock time, so a Los Angeles store's 10 pm sale belongs to that evening and not
-- to the next UTC date. Late lines count too (silver keeps them).
with

sales_lines as (

    select * from {{ ref('stg_lake__sales_lines') }}

),

stores as (

    select * from {{ ref('stg_lake__stores') }}

),

zoned as (

    select
        sales_lines.*,
        coalesce(stores.time_zone, {{ web_store_time_zone() }}) as time_zone

    from sales_lines
    left join stores
        on sales_lines.store_id = stores.store_id

),

final as (

    select
        *,
        {{ to_local_time('sold_at', 'time_zone') }} as sold_at_local,
        cast({{ to_local_time('sold_at', 'time_zone') }} as date) as sales_date,
        {{ dbt.date_trunc('hour', to_local_time('sold_at', 'time_zone')) }} as sales_hour

    from zoned

)

select * from final
