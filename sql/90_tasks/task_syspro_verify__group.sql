-- Verifies the tables whose verify_group is '{{group_name}}' on
-- '{{group_schedule}}': every key and record digest compared with SYSPRO,
-- changed and missing rows re-pulled, rows SYSPRO deleted flagged. This is
-- also the delete detection (it replaces task_syspro_detect_deletes).
-- Move a table with `update syspro_sync_control set verify_group = 'weekly'`.
-- Created (and, on a re-run, re-created) SUSPENDED: only syspro_start()
-- resumes it, after it has seen the gateway answer. A task resumed before the
-- gateway trust is finished fails every run (403) and suspends itself.
-- https://docs.snowflake.com/en/sql-reference/sql/create-task
create or replace task {{database}}.{{schema}}.task_syspro_verify__{{group_name}}
    warehouse = {{warehouse}}
    schedule = '{{group_schedule}}'
    user_task_timeout_ms = {{task_timeout_ms}}
    suspend_task_after_num_failures = {{suspend_after_failures}}
    overlap_policy = no_overlap
    comment = 'ml-connector: verify the {{group_name}} SYSPRO tables against SYSPRO'
as
    call {{database}}.{{schema}}.verify_syspro_group('{{group_name}}');
