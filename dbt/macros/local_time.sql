{#-
    A UTC TIMESTAMP_NTZ as the wall-clock time in `time_zone` (an IANA name, or a column
    holding one): what a store's till showed. Its date is the store's business date.
-#}
{% macro to_local_time(timestamp_utc, time_zone) -%}
    convert_timezone('UTC', {{ time_zone }}, {{ timestamp_utc }})
{%- endmacro %}

{#- The web store's (and the company's reporting) time zone, quoted for SQL. -#}
{% macro web_store_time_zone() -%}
    '{{ var("web_store_time_zone") }}'
{%- endmacro %}
