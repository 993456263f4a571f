with

sales_lines as (

    select * from {{ ref('int_sales_lines_localized') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

product_hours as (

    -- sales_hour: the selling store's local business hour
    select
        sales_hour,
        product_id,
        count(distinct transaction_id) as orders,
        sum(quantity) as units,
        sum(line_revenue_usd) as revenue_usd

    from sales_lines
    group by sales_hour, product_id

),

final as (

    select
        cast(product_hours.sales_hour as timestamp_ntz) as sales_hour,
        product_hours.product_id,
        products.product_name,
        products.category_code,
        products.brand,
        cast(product_hours.orders as number(38, 0)) as orders,
        cast(product_hours.units as number(38, 0)) as units,
        cast(product_hours.revenue_usd as number(18, 2)) as revenue_usd

    from product_hours
    left join products
        on product_hours.product_id = products.product_id

)

select * from final
