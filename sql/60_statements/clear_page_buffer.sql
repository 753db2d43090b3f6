-- The answers are audited and landed: drop the work copies.
delete from {{database}}.{{schema}}.raw_syspro__page_buffer as buffer
where buffer.run_id = :run_id
