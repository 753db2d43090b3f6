-- Records the keys SYSPRO still has, with the same key expression the
-- landing log uses, so the comparison in mark_deleted is exact.
insert into {{database}}.{{schema}}.raw_syspro__seen_keys (
    run_id,
    table_name,
    page_number,
    record_key
)
select
    buffer.run_id,
    '{{table_name}}',
    buffer.page_number,
    {{record_key_expression}}
from {{database}}.{{schema}}.raw_syspro__page_buffer as buffer,
    lateral flatten(input => buffer.page:keys) as item
where
    buffer.run_id = :run_id
    and buffer.page_number = :page_number
    and buffer.page:error:kind is null
