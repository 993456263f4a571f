"""The BI dashboard: a Streamlit page on the dbt marts in the warehouse."""
