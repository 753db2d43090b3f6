-- The periods a reconciliation run found drifting, oldest first: the
-- procedure re-pulls each. 'unknown' (SYSPRO rows whose watermark is not a
-- date) cannot be re-pulled by day and is only reported.
select
    recon.period
from {{database}}.{{schema}}.audit_syspro__reconciliation as recon
where
    recon.run_id = :run_id
    and recon.status = 'drift'
    and recon.period <> 'unknown'
order by recon.period
