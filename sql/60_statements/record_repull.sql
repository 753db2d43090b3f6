-- Notes on the reconciliation row that its period was re-pulled, and by
-- which run (audit_syspro__runs.run_id).
update {{database}}.{{schema}}.audit_syspro__reconciliation as recon
set
    is_repull_triggered = true,
    repull_run_id = :repull_run_id
where
    recon.company_id = :company_id
    and recon.run_id = :run_id
    and recon.period = :period
