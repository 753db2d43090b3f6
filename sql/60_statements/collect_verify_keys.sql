-- Verify's comparison: the keys to re-pull, into work_syspro__refresh_keys in
-- batches of 1000. 'changed': SYSPRO's digest differs from the target's
-- record_digest, or either is missing (a row merged before digests existed
-- gets one this way); 'absent': SYSPRO has the key and the target lacks it
-- or has it flagged deleted. An unchanged table collects nothing. Only the
-- company's own target rows are compared.
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

listed as (
    select
        listed.record_key,
        listed.key_object,
        listed.record_digest
    from {{database}}.{{schema}}.work_syspro__verify_digests as listed
    where listed.run_id = :run_id
    qualify row_number() over (
        partition by listed.record_key
        order by listed.page_number
    ) = 1
),

compared as (
    select
        listed.record_key,
        listed.key_object,
        case
            when target.record_key is null or target.is_deleted then 'absent'
            else 'changed'
        end as reason
    from listed
    left join {{database}}.{{schema}}.syspro__{{table_slug}} as target
        on
            target.company_id = :company_id
            and target.record_key = listed.record_key
    where
        target.record_key is null
        or target.is_deleted
        or target.record_digest is null
        or listed.record_digest is null
        or target.record_digest <> listed.record_digest
)

select
    :run_id,
    :company_id,
    '{{table_name}}',
    compared.record_key,
    compared.key_object,
    compared.reason,
    floor((row_number() over (order by compared.record_key) - 1) / 1000) + 1,
    false,
    cast(null as timestamp_ntz)
from compared
