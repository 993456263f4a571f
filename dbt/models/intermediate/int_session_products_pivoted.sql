-- One row per shopping session and product: whether the session viewed, carted, removed
-- and bought it, however many times, and the session's business date (the web store's
-- local date of the session's first event; a session past midnight stays on its first
-- day). Late events count too (silver keeps them; only the minute windows drop them).
with

clickstream_events as (

    select * from {{ ref('stg_lake__clickstream_events') }}
    where session_id is not null

),

sessions as (

    select
        session_id,
        min(occurred_at) as session_started_at

    from clickstream_events
    group by session_id

),

session_products as (

    select
        session_id,
        product_id,
        max(case when event_type = 'view' then 1 else 0 end) = 1 as has_viewed,
        max(case when event_type = 'cart' then 1 else 0 end) = 1 as has_carted,
        max(case when event_type = 'remove_from_cart' then 1 else 0 end) = 1 as has_removed,
        max(case when event_type = 'purchase' then 1 else 0 end) = 1 as has_purchased,
        sum(case when event_type = 'cart' then 1 else 0 end) as cart_events

    from clickstream_events
    group by session_id, product_id

),

final as (

    select
        session_products.session_id,
        session_products.product_id,
        cast(
            {{ to_local_time('sessions.session_started_at', web_store_time_zone()) }} as date
        ) as funnel_date,
        session_products.has_viewed,
        session_products.has_carted,
        session_products.has_removed,
        session_products.has_purchased,
        session_products.cart_events

    from session_products
    inner join sessions
        on session_products.session_id = sessions.session_id

)

select * from final
