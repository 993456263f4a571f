-- The upsert the loader runs for every landed table (loaders/upsert.py fills it in).
--
-- $target, $staging and every column list are identifiers the loader validated against
-- a strict pattern and double-quoted; values are never formatted in: %(loaded_at)s and
-- %(delta_version)s are bound by the connector.
--
-- The staging table holds the changed rows of one Delta version range, already
-- de-duplicated per chunk; QUALIFY keeps the newest staged row per natural key across
-- chunks, because Snowflake fails a MERGE in which several source rows match one target
-- row. A matched row is updated only when a value differs, so a rerun of the same range
-- reports 0 updated.
MERGE INTO $target AS t
USING (
    SELECT $source_columns
    FROM $staging
    QUALIFY ROW_NUMBER() OVER (PARTITION BY $key_columns ORDER BY "_STAGE_SEQ" DESC) = 1
) AS s
ON $key_match
WHEN MATCHED AND ($changed) THEN UPDATE SET
    $updates,
    "_LOADED_AT" = %(loaded_at)s,
    "_DELTA_VERSION" = %(delta_version)s
WHEN NOT MATCHED THEN INSERT ($insert_columns, "_LOADED_AT", "_DELTA_VERSION")
    VALUES ($insert_values, %(loaded_at)s, %(delta_version)s)
