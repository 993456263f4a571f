with

funnel_steps as (

    select * from {{ ref('int_funnel_steps_pivoted') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

category_steps as (

    select
        coalesce(products.category_code, 'uncategorized') as category_code,
        sum(funnel_steps.views) as views,
        sum(funnel_steps.carts) as carts,
        sum(funnel_steps.removes) as removes,
        sum(funnel_steps.purchases) as purchases

    from funnel_steps
    left join products
        on funnel_steps.product_id = products.product_id
    group by coalesce(products.category_code, 'uncategorized')

),

final as (

    select
        category_code,
        cast(views as number(38, 0)) as views,
        cast(carts as number(38, 0)) as carts,
        cast(removes as number(38, 0)) as removes,
        cast(purchases as number(38, 0)) as purchases,
        {{ funnel_rates() }}

    from category_steps

)

select * from final
