{#-
    The funnel's rates from its step counts, each null when its denominator is 0:
    view_to_cart_rate = carts / views, cart_to_purchase_rate = purchases / carts,
    conversion_rate = purchases / views, and cart_abandonment_rate =
    (carts - purchases) / carts floored at 0 (a purchase of a product carted in an
    earlier session can outnumber this product's carts). Rounded to 4 decimals.
-#}
{% macro funnel_rates(views='views', carts='carts', purchases='purchases') -%}
    cast(round({{ safe_divide(carts, views) }}, 4) as float) as view_to_cart_rate,
    cast(round({{ safe_divide(purchases, carts) }}, 4) as float) as cart_to_purchase_rate,
    cast(round({{ safe_divide(purchases, views) }}, 4) as float) as conversion_rate,
    cast(
        round({{ safe_divide('greatest(' ~ carts ~ ' - ' ~ purchases ~ ', 0)', carts) }}, 4)
        as float
    ) as cart_abandonment_rate
{%- endmacro %}
