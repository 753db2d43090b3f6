-- pull_page for a pull by key: one page of the rows whose keys are batch
-- :batch_number of the run's refresh keys (at most 1000 key objects, sent
-- with every cursor of the batch's pull). In the procedures the source is
-- syspro_pull_keys(:table_name, batch.key_array, :page_cursor); push mode and
-- the tests read the keys with read_refresh_batches and bind the page as :page.
insert into {{database}}.{{schema}}.raw_syspro__page_buffer (
    run_id,
    table_name,
    page_number,
    requested_since,
    requested_cursor,
    page,
    received_at
)
select
    :run_id,
    :table_name,
    :page_number,
    null,
    :page_cursor,
    {{pull_keys_source}},
    sysdate()
from (
    select array_agg(refresh.key_object) within group (order by refresh.record_key) as key_array
    from {{database}}.{{schema}}.raw_syspro__refresh_keys as refresh
    where
        refresh.run_id = :run_id
        and refresh.batch_number = :batch_number
) as batch
