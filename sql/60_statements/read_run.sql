-- What start_run decided: the procedure pulls with exactly this `since`.
select
    runs.since
from {{database}}.{{schema}}.audit_syspro__runs as runs
where runs.run_id = :run_id
