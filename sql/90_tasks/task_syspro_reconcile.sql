-- Reconciles every enabled table once a day, after the nightly verify: tables
-- with a watermark over the last 35 days (a closing month and its late
-- postings), snapshot tables whole. Drifting days are re-pulled at once;
-- report_syspro__reconciliation_drift shows what drifted. Change the window
-- with `alter task ... modify as call reconcile_syspro_group('all', 62);`.
-- Created (and, on a re-run, re-created) SUSPENDED: only syspro_start()
-- resumes it, after it has seen the gateway answer. A task resumed before the
-- gateway trust is finished fails every run (403) and suspends itself.
-- https://docs.snowflake.com/en/sql-reference/sql/create-task
create or replace task {{database}}.{{schema}}.task_syspro_reconcile
    warehouse = {{warehouse}}
    schedule = 'USING CRON 0 4 * * * UTC'
    user_task_timeout_ms = {{task_timeout_ms}}
    suspend_task_after_num_failures = {{suspend_after_failures}}
    overlap_policy = no_overlap
    comment = 'ml-connector: reconcile SYSPRO and Snowflake per day, re-pull drifting days'
as
    call {{database}}.{{schema}}.reconcile_syspro_group('all', 35);
