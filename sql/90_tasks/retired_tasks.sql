-- Tasks earlier versions created and this one replaces: the daily key scan
-- for deletes is now part of verify (task_syspro_verify__*), so an upgraded
-- account must not keep running both. The procedures stay for manual use.
drop task if exists {{database}}.{{schema}}.task_syspro_detect_deletes;
