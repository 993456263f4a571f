{#-
    The discount band of an order from its overall discount rate: total discount over
    gross value (quantity x unit price), rounded to a whole percent. The producer
    discounts each line by 0, 5, 10, 15 or 25 %, so a single-band order lands in the band
    named after that rate and a mixed order in the band its blended rate falls in.
    Bands: '0%', '1-5%', '6-10%', '11-15%', '16-25%', '26%+' (never produced by the
    simulator, kept so a real feed cannot fall through).
-#}
{% macro discount_pct(discount, gross) -%}
    {{ round_ratio('100 * ' ~ cents(discount), cents(gross)) }}
{%- endmacro %}

{% macro discount_band(discount, gross) -%}
    case
        when coalesce({{ discount_pct(discount, gross) }}, 0) = 0 then '0%'
        when {{ discount_pct(discount, gross) }} <= 5 then '1-5%'
        when {{ discount_pct(discount, gross) }} <= 10 then '6-10%'
        when {{ discount_pct(discount, gross) }} <= 15 then '11-15%'
        when {{ discount_pct(discount, gross) }} <= 25 then '16-25%'
        else '26%+'
    end
{%- endmacro %}

{% macro discount_band_rank(band) -%}
    case {{ band }}
        when '0%' then 1
        when '1-5%' then 2
        when '6-10%' then 3
        when '11-15%' then 4
        when '16-25%' then 5
        else 6
    end
{%- endmacro %}
