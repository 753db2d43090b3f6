-- One page of the rows with the given keys (an array of at most 1000 key
-- objects naming exactly the key columns): the fields of a syspro_pull
-- answer plus `missing`, the requested keys SYSPRO does not have (union over
-- the pages). Pass the same keys with every cursor of one pull; each pull is
-- one poll. Used by the key refresh of a sync and by verify.
create or replace secure external function {{database}}.{{schema}}.syspro_pull_keys(
    table_name varchar,
    keys array,
    page_cursor varchar
)
    returns variant
    volatile
    comment = 'ml-connector: one page of SYSPRO rows with the given keys, and the keys SYSPRO lacks; loop on next_cursor'
    api_integration = {{integration}}
    headers = ('mlc-secret' = '{{secret}}')
    max_batch_rows = 1
    as '{{gateway_url}}/v1/pull_keys';
