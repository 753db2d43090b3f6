-- The service's table catalog: {tables: [{name, key_columns,
-- watermark_column, description}]}; compare with syspro_sync_control.
create or replace secure external function {{database}}.{{schema}}.syspro_tables()
    returns variant
    volatile
    comment = 'ml-connector: the SYSPRO tables the service can pull'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    as '{{gateway_url}}/v1/tables';
