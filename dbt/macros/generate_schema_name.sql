{#- Every model lands in the target schema (SNOWFLAKE_ANALYTICS_SCHEMA): the warehouse
    contract has no custom schema suffixes. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ target.schema }}
{%- endmacro %}
