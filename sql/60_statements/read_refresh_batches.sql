-- The batches of keys a run pulls with syspro_pull_keys, in order: the
-- procedure loops over batch_number; keys_json is the key array the
-- batch's pull sends (what push mode and the tests send to the service).
select
    refresh.batch_number,
    count(*) as key_count,
    to_json(array_agg(refresh.key_object) within group (order by refresh.record_key)) as keys_json
from {{database}}.{{schema}}.work_syspro__refresh_keys as refresh
where refresh.run_id = :run_id
group by refresh.batch_number
order by refresh.batch_number
