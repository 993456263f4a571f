with

sales_lines as (

    select * from {{ ref('int_sales_lines_localized') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

product_days as (

    -- sales_date: the selling store's local business date
    select
        sales_date,
        product_id,
        count(distinct transaction_id) as orders,
        sum(quantity) as units,
        sum(line_revenue_usd) as revenue_usd

    from sales_lines
    group by sales_date, product_id

),

final as (

    select
        product_days.sales_date,
        product_days.product_id,
        products.product_name,
        products.category_code,
        products.brand,
        cast(product_days.orders as number(38, 0)) as orders,
        cast(product_days.units as number(38, 0)) as units,
        cast(product_days.revenue_usd as number(18, 2)) as revenue_usd

    from product_days
    left join products
        on product_days.product_id = products.product_id

)

select * from final
