{#-
    The incremental filter of the models `lakehouse load --follow` refreshes: rows landed
    after the newest `loaded_at` the model already holds. Strictly after: a load stamps
    every row it lands alike, commits them together and stamps later than any load of
    its table before it (loaders/load_state.py), so the newest stamp here came in whole.
    Taking it again would redo the whole previous load every run (after a demo's history,
    a week of rows).
-#}
{% macro landed_since_last_run() -%}
    loaded_at > (select coalesce(max(loaded_at), '1970-01-01') from {{ this }})
{%- endmacro %}
