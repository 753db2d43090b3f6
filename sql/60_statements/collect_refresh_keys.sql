-- The key refresh of a sync: the keys to re-read by key after the open-items
-- pull, into work_syspro__refresh_keys in batches of 1000. Candidates (per
-- table, from the catalog): target rows not flagged deleted that the target
-- still holds as open items but the open-items poll :poll_id did not return
-- (paid, completed, posted or deleted in SYSPRO since), and the parent keys
-- named by child-table rows loaded since this table's last key refresh
-- (syspro_sync_state.dependents_checked_at; the first time, the last
-- overlap_days days). A key named twice is pulled once. Only this company's
-- rows are candidates (refresh_candidates filters on :company_id).
insert into {{database}}.{{schema}}.work_syspro__refresh_keys (
    run_id,
    company_id,
    table_name,
    record_key,
    key_object,
    reason,
    batch_number,
    is_missing,
    missing_fetched_at
)
with

candidates as (
    {{refresh_candidates}}
),

distinct_keys as (
    select
        candidates.record_key,
        candidates.key_object,
        candidates.reason
    from candidates
    qualify row_number() over (
        partition by candidates.record_key
        order by candidates.reason
    ) = 1
)

select
    :run_id,
    :company_id,
    '{{table_name}}',
    distinct_keys.record_key,
    distinct_keys.key_object,
    distinct_keys.reason,
    floor((row_number() over (order by distinct_keys.record_key) - 1) / 1000) + 1,
    false,
    cast(null as timestamp_ntz)
from distinct_keys
