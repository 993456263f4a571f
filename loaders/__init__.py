"""Lake to warehouse: incremental Snowflake upserts and the dbt KPI models."""
