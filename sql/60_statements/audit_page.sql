-- One audit row per answer. A null answer or one carrying `error` (the
-- service's error object (kind, message, attempts) after its retries)
-- gets error_kind, which makes the procedure fail the run.
insert into {{database}}.{{schema}}.audit_syspro__pages (
    run_id,
    poll_id,
    company_id,
    table_name,
    page_number,
    requested_since,
    requested_cursor,
    row_count,
    high_water,
    next_cursor,
    error_kind,
    error_message,
    error_attempts,
    fetched_at,
    received_at
)
select
    buffer.run_id,
    buffer.page:poll_id::varchar,
    buffer.company_id,
    buffer.table_name,
    buffer.page_number,
    buffer.requested_since,
    buffer.requested_cursor,
    -- pull pages count rows, key pages count keys
    coalesce(buffer.page:row_count::number, array_size(buffer.page:keys), 0),
    coalesce(
            try_to_timestamp_ntz(buffer.page:high_water::varchar, 'YYYY-MM-DD"T"HH24:MI:SS.FF'),
            try_to_timestamp_ntz(buffer.page:high_water::varchar, 'YYYY-MM-DD"T"HH24:MI:SS'),
            try_to_timestamp_ntz(buffer.page:high_water::varchar, 'YYYY-MM-DD')
        ),
    buffer.page:next_cursor::varchar,
    case
        when buffer.page is null then 'empty_answer'
        else buffer.page:error:kind::varchar
    end,
    buffer.page:error:message::varchar,
    buffer.page:error:attempts::number,
    coalesce(
            try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS.FF'),
            try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD"T"HH24:MI:SS'),
            try_to_timestamp_ntz(buffer.page:fetched_at::varchar, 'YYYY-MM-DD')
        ),
    buffer.received_at
from {{database}}.{{schema}}.work_syspro__pages as buffer
where
    buffer.run_id = :run_id
    and buffer.page_number = :page_number
