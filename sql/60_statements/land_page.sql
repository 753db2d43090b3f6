-- Appends the page's records to the landing log. The key and hash are
-- computed once, here, so the MERGE, history and delete detection agree on
-- a record's identity. Error answers land nothing.
insert into {{database}}.{{schema}}.raw_syspro__records (
    poll_id,
    run_id,
    table_name,
    page_number,
    row_index,
    record_key,
    record,
    record_hash,
    watermark_value,
    fetched_at,
    landed_at
)
select
    buffer.page:poll_id::varchar,
    buffer.run_id,
    '{{table_name}}',
    buffer.page_number,
    item.index,
    {{record_key_expression}},
    item.value,
    md5(to_json(item.value)),
    {{watermark_expression}},
    buffer.page:fetched_at::timestamp_ntz,
    sysdate()
from {{database}}.{{schema}}.raw_syspro__page_buffer as buffer,
    lateral flatten(input => buffer.page:rows) as item
where
    buffer.run_id = :run_id
    and buffer.page_number = :page_number
    and buffer.page:error:kind is null
