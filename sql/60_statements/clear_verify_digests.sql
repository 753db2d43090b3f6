-- The verify run is judged: drop the keys and digests it listed.
delete from {{database}}.{{schema}}.work_syspro__verify_digests as listed
where
    listed.company_id = :company_id
    and listed.run_id = :run_id
