{#- numerator / denominator, or null when the denominator is 0 or null (never an error). -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#-
    numerator / denominator of two non-negative integers, rounded half-up to a whole
    number, null when the denominator is 0. Integer arithmetic gives the same answer on
    Snowflake (exact NUMBER division) and on the emulator (DuckDB divides as doubles,
    which turns 10.005 into 10.00499...): floor((2n + d) / 2d) is exact because a
    ratio of integers that is not whole is at least 1/2d away from one.
-#}
{% macro round_ratio(numerator, denominator) -%}
    floor((2 * ({{ numerator }}) + ({{ denominator }})) / nullif(2 * ({{ denominator }}), 0))
{%- endmacro %}

{#- A dollar amount as whole cents. -#}
{% macro cents(amount_usd) -%}
    cast(round(({{ amount_usd }}) * 100, 0) as number(38, 0))
{%- endmacro %}

{#- An amount in dollars divided by a count, rounded half-up to the cent; null for 0. -#}
{% macro divide_money(amount_usd, count) -%}
    cast({{ round_ratio(cents(amount_usd), count) }} / 100 as number(18, 2))
{%- endmacro %}
