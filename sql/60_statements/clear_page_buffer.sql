-- The answers are audited and landed: drop the work copies.
delete from {{database}}.{{schema}}.work_syspro__pages as buffer
where
    buffer.company_id = :company_id
    and buffer.run_id = :run_id
