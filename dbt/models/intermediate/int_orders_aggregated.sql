-- One row per order (transaction_id): its lines summed, with the order's discount band
-- and its store's local business date and hour.
with

sales_lines as (

    select * from {{ ref('int_sales_lines_localized') }}

),

orders as (

    select
        transaction_id,
        -- every line of an order travels in one sale event, so these are single-valued
        max(store_id) as store_id,
        max(channel) as channel,
        max(customer_id) as customer_id,
        min(sold_at) as sold_at,
        min(sales_date) as sales_date,
        min(sales_hour) as sales_hour,
        count(*) as line_count,
        sum(quantity) as units,
        sum(gross_usd) as gross_usd,
        sum(discount_usd) as discount_usd,
        sum(line_revenue_usd) as revenue_usd,
        max(loaded_at) as loaded_at

    from sales_lines
    group by transaction_id

),

final as (

    select
        transaction_id,
        store_id,
        channel,
        customer_id,
        sold_at,
        sales_date,
        sales_hour,
        line_count,
        units,
        cast(gross_usd as number(18, 2)) as gross_usd,
        cast(discount_usd as number(18, 2)) as discount_usd,
        cast(revenue_usd as number(18, 2)) as revenue_usd,
        {{ discount_pct('discount_usd', 'gross_usd') }} as discount_pct,
        {{ discount_band('discount_usd', 'gross_usd') }} as discount_band,
        loaded_at

    from orders

)

select * from final
