{#-
    The funnel's rates from session counts; each numerator counts a subset of its
    denominator's sessions, so no rate can exceed 1, and each is null when its
    denominator is 0. Rounded to 4 decimals.
      view_to_cart_rate     = sessions that viewed and carted / sessions that viewed
      cart_to_purchase_rate = sessions that carted and bought / sessions that carted
      conversion_rate       = sessions that viewed and bought / sessions that viewed
      cart_abandonment_rate = sessions that carted and did not buy / sessions that carted
-#}
{% macro funnel_rates() -%}
    cast(round({{ safe_divide('sessions_viewed_and_carted', 'sessions_viewed') }}, 4) as float)
        as view_to_cart_rate,
    cast(round({{ safe_divide('sessions_carted_and_purchased', 'sessions_carted') }}, 4) as float)
        as cart_to_purchase_rate,
    cast(round({{ safe_divide('sessions_viewed_and_purchased', 'sessions_viewed') }}, 4) as float)
        as conversion_rate,
    cast(round({{ safe_divide('sessions_abandoned_cart', 'sessions_carted') }}, 4) as float)
        as cart_abandonment_rate
{%- endmacro %}

{#- Session counts of one funnel grain, from rows of one session and product (or category)
    carrying has_viewed / has_carted / has_purchased. -#}
{% macro funnel_session_counts() -%}
    count(*) as sessions,
    sum(case when has_viewed then 1 else 0 end) as sessions_viewed,
    sum(case when has_carted then 1 else 0 end) as sessions_carted,
    sum(case when has_purchased then 1 else 0 end) as sessions_purchased,
    sum(case when has_viewed and has_carted then 1 else 0 end) as sessions_viewed_and_carted,
    sum(case when has_carted and has_purchased then 1 else 0 end) as sessions_carted_and_purchased,
    sum(case when has_viewed and has_purchased then 1 else 0 end) as sessions_viewed_and_purchased,
    sum(case when has_carted and not has_purchased then 1 else 0 end) as sessions_abandoned_cart
{%- endmacro %}
