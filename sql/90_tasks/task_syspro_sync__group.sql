-- Syncs the '{{group_name}}' schedule group every {{group_schedule}}.
-- NO_OVERLAP: a run still going when the next is due makes Snowflake skip
-- the next one, so two syncs never race on one watermark. After
-- {{suspend_after_failures}} failed runs in a row the task suspends itself:
-- check audit_syspro__runs, fix, then `alter task ... resume`.
-- Created (and, on a re-run, re-created) SUSPENDED: only syspro_start()
-- resumes it, after it has seen the gateway answer. A task resumed before the
-- gateway trust is finished fails every run (403) and suspends itself.
-- https://docs.snowflake.com/en/sql-reference/sql/create-task
create or replace task {{database}}.{{schema}}.task_syspro_sync__{{group_name}}
    warehouse = {{warehouse}}
    schedule = '{{group_schedule}}'
    user_task_timeout_ms = {{task_timeout_ms}}
    suspend_task_after_num_failures = {{suspend_after_failures}}
    overlap_policy = no_overlap
    comment = 'ml-connector: sync the {{group_name}} SYSPRO tables'
as
    call {{database}}.{{schema}}.sync_syspro_group('{{group_name}}');
