-- The upsert the loader runs for every landed table (loaders/upsert.py fills it in).
--
-- $target, $staging and every column list are identifiers the loader validated against
-- a strict pattern and double-quoted; values are never formatted in: %(loaded_at)s (the
-- warehouse's own clock, read in the same transaction) is bound by the connector.
--
-- The staging table holds one load's net changes: each row with the Delta version it is
-- as of ("_DELTA_VERSION") and whether its key is gone ("_IS_DELETE"). QUALIFY keeps
-- the newest staged change per natural key, because Snowflake fails a MERGE in which
-- several source rows match one target row. A landed row changes only when the staged
-- change is not older than it (so a slower, older load can never write over a newer
-- one), and an update only when a value differs (a rerun reports 0 updated).
MERGE INTO $target AS t
USING (
    SELECT $source_columns, "_DELTA_VERSION", "_IS_DELETE"
    FROM $staging
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY $key_columns ORDER BY "_DELTA_VERSION" DESC, "_STAGE_SEQ" DESC
    ) = 1
) AS s
ON $key_match
WHEN MATCHED AND s."_IS_DELETE" AND s."_DELTA_VERSION" >= COALESCE(t."_DELTA_VERSION", -1)
    THEN DELETE
WHEN MATCHED AND NOT s."_IS_DELETE" AND s."_DELTA_VERSION" >= COALESCE(t."_DELTA_VERSION", -1)
    AND ($changed) THEN UPDATE SET
    $updates,
    "_LOADED_AT" = %(loaded_at)s,
    "_DELTA_VERSION" = s."_DELTA_VERSION"
WHEN NOT MATCHED AND NOT s."_IS_DELETE" THEN INSERT ($insert_columns, "_LOADED_AT", "_DELTA_VERSION")
    VALUES ($insert_values, %(loaded_at)s, s."_DELTA_VERSION")
