-- Tasks earlier versions created and this one replaces: the daily key scan
-- for deletes is now part of verify (task_syspro_verify__*), so an upgraded
-- account must not keep running both; its procedures are dropped too
-- (70_procedures/retired_procedures.sql).
drop task if exists {{database}}.{{schema}}.task_syspro_detect_deletes;
