with

funnel_steps as (

    select * from {{ ref('int_funnel_steps_pivoted') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

final as (

    select
        funnel_steps.product_id,
        products.product_name,
        coalesce(products.category_code, 'uncategorized') as category_code,
        cast(funnel_steps.views as number(38, 0)) as views,
        cast(funnel_steps.carts as number(38, 0)) as carts,
        cast(funnel_steps.removes as number(38, 0)) as removes,
        cast(funnel_steps.purchases as number(38, 0)) as purchases,
        {{ funnel_rates('funnel_steps.views', 'funnel_steps.carts', 'funnel_steps.purchases') }}

    from funnel_steps
    left join products
        on funnel_steps.product_id = products.product_id

)

select * from final
