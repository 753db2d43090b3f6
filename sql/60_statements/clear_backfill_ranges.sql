-- The backfill is merged (or failed): drop its ranges.
delete from {{database}}.{{schema}}.work_syspro__backfill_ranges as ranges
where
    ranges.company_id = :company_id
    and ranges.run_id = :run_id
