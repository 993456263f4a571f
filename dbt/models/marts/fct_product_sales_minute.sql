{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['window_start', 'product_id'],
        tmp_relation_type='transient',
        on_schema_change='append_new_columns'
    )
}}

-- The streaming job keeps MERGE-ing into a minute window until the watermark passes
-- it, and the loader upserts the new row with a fresh _loaded_at. An incremental run
-- takes the rows landed since the newest one already here and replaces those windows.
with

product_minutes as (

    select * from {{ ref('stg_lake__product_sales_minutes') }}

    {% if is_incremental() %}
    where {{ landed_since_last_run() }}
    {% endif %}

),

products as (

    select * from {{ ref('dim_products') }}

),

final as (

    select
        product_minutes.window_start,
        product_minutes.window_end,
        product_minutes.product_id,
        products.product_name,
        cast(product_minutes.orders as number(38, 0)) as orders,
        cast(product_minutes.units as number(38, 0)) as units,
        cast(product_minutes.revenue_usd as number(18, 2)) as revenue_usd,
        product_minutes.updated_at,
        product_minutes.loaded_at

    from product_minutes
    left join products
        on product_minutes.product_id = products.product_id

)

select * from final
