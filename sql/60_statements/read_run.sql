-- What start_run decided: the procedure pulls with exactly this `since`;
-- and the MERGE counts count_merge has added up so far.
select
    runs.since,
    runs.rows_inserted,
    runs.rows_updated
from {{database}}.{{schema}}.audit_syspro__runs as runs
where runs.run_id = :run_id
