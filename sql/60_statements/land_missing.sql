-- Notes which refresh keys SYSPRO answered it does not have (the page's
-- `missing`; the union over a pull's pages is the pull's answer), and when
-- SYSPRO said so. mark_missing_deleted flags them once the pull is merged.
update {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
set
    is_missing = true,
    missing_fetched_at = answer.fetched_at
from (
    select distinct
        {{record_key_expression}} as record_key,
        coalesce(
                try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS.FF'),
                try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS'),
                try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD')
            ) as fetched_at
    from {{database}}.{{schema}}.work_syspro__pages as buffer,
        lateral flatten(input => buffer.page:missing) as item
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
) as answer
where
    refresh.company_id = :company_id
    and refresh.run_id = :run_id
    and refresh.table_name = '{{table_name}}'
    and refresh.record_key = answer.record_key
