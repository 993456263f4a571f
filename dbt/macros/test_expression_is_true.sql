{#- A generic test: rows where `expression` is false (or, on a column, `column expression`).
    Written here because dbt packages (dbt_utils) cannot be installed offline. -#}
{% test expression_is_true(model, expression, column_name=None) %}

select *
from {{ model }}
where not (
    {%- if column_name %} {{ column_name }} {% endif %} {{ expression }}
)

{% endtest %}
