-- Records one page of syspro_digests: each key SYSPRO has, with the same key
-- expression the landing log uses, and its record's digest (the page's
-- digests, aligned with keys). Error answers land nothing.
insert into {{database}}.{{schema}}.work_syspro__verify_digests (
    run_id,
    company_id,
    table_name,
    page_number,
    record_key,
    key_object,
    record_digest
)
with

page_keys as (
    select
        buffer.run_id,
        buffer.company_id,
        buffer.page_number,
        item.index as key_index,
        {{record_key_expression}} as record_key,
        item.value as key_object
    from {{database}}.{{schema}}.work_syspro__pages as buffer,
        lateral flatten(input => buffer.page:keys) as item
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
),

page_digests as (
    select
        digest.index as key_index,
        digest.value::varchar as record_digest
    from {{database}}.{{schema}}.work_syspro__pages as buffer,
        lateral flatten(input => buffer.page:digests) as digest
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
)

select
    page_keys.run_id,
    page_keys.company_id,
    '{{table_name}}',
    page_keys.page_number,
    page_keys.record_key,
    page_keys.key_object,
    page_digests.record_digest
from page_keys
left join page_digests
    on page_digests.key_index = page_keys.key_index
