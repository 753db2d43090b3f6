-- Scans every enabled table's keys for hard deletes, once a day by default:
-- a key scan reads every key, so it costs more than an incremental sync.
create or replace task {{database}}.{{schema}}.task_syspro_detect_deletes
    warehouse = {{warehouse}}
    schedule = '{{deletes_schedule}}'
    user_task_timeout_ms = {{task_timeout_ms}}
    suspend_task_after_num_failures = {{suspend_after_failures}}
    overlap_policy = no_overlap
    comment = 'ml-connector: flag rows hard-deleted in SYSPRO'
as
    call {{database}}.{{schema}}.detect_syspro_deletes_group('all');

alter task {{database}}.{{schema}}.task_syspro_detect_deletes resume;
