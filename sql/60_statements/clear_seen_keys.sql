-- The scan is judged: drop its keys.
delete from {{database}}.{{schema}}.raw_syspro__seen_keys as seen
where seen.run_id = :run_id
