{#- numerator / denominator, or null when the denominator is 0 or null (never an error). -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}
