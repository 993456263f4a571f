-- One row per product: how many clickstream events of each funnel step it received.
-- Late events count too (the silver table keeps them; only the minute windows drop them).
with

clickstream_events as (

    select * from {{ ref('stg_lake__clickstream_events') }}

),

final as (

    select
        product_id,
        sum(case when event_type = 'view' then 1 else 0 end) as views,
        sum(case when event_type = 'cart' then 1 else 0 end) as carts,
        sum(case when event_type = 'remove_from_cart' then 1 else 0 end) as removes,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases

    from clickstream_events
    group by product_id

)

select * from final
