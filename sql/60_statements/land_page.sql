-- Appends the page's records to the landing log. The key and hash are
-- computed once, here, so the MERGE, history and delete detection agree on
-- a record's identity; the service's digest of each record (the page's
-- digests, aligned with rows) is kept next to it for verify. Error answers
-- land nothing. Every pull lands through here: syspro_pull, _pull_range,
-- _pull_open and _pull_keys answers all carry rows and digests.
insert into {{database}}.{{schema}}.raw_syspro__records (
    poll_id,
    run_id,
    company_id,
    table_name,
    page_number,
    row_index,
    record_key,
    record,
    record_hash,
    record_digest,
    watermark_value,
    fetched_at,
    landed_at
)
with

page_rows as (
    select
        buffer.page:poll_id::varchar as poll_id,
        buffer.run_id,
        buffer.company_id,
        buffer.page_number,
        item.index as row_index,
        {{record_key_expression}} as record_key,
        item.value as record,
        {{watermark_expression}} as watermark_value,
        coalesce(
                try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS.FF'),
                try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS'),
                try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD')
            ) as fetched_at
    from {{database}}.{{schema}}.work_syspro__pages as buffer,
        lateral flatten(input => buffer.page:rows) as item
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
),

-- digests[i] by a join on the position rather than digests[item.index]:
-- the same value, and it reads the string the same way on every engine
page_digests as (
    select
        digest.index as row_index,
        digest.value::varchar as record_digest
    from {{database}}.{{schema}}.work_syspro__pages as buffer,
        lateral flatten(input => buffer.page:digests) as digest
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
)

select
    page_rows.poll_id,
    page_rows.run_id,
    page_rows.company_id,
    '{{table_name}}',
    page_rows.page_number,
    page_rows.row_index,
    page_rows.record_key,
    page_rows.record,
    md5(to_json(page_rows.record)),
    page_digests.record_digest,
    page_rows.watermark_value,
    page_rows.fetched_at,
    sysdate()
from page_rows
left join page_digests
    on page_digests.row_index = page_rows.row_index
