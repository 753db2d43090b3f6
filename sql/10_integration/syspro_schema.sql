-- The table's columns as SYSPRO describes them: {table, columns: [{name,
-- edm_type, snowflake_type, nullable}], key_columns, watermark_column}.
-- refresh_syspro_typed_views() turns it into one typed view per table.
create or replace secure external function {{database}}.{{schema}}.syspro_schema(
    table_name varchar
)
    returns variant
    volatile
    comment = 'ml-connector: column names and types of a SYSPRO table'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    as '{{gateway_url}}/v1/schema';
