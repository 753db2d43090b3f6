-- One schema holds the whole pipeline; object name prefixes give the stage
-- (raw_, syspro__, hist_, stg_, report_, audit_, sync_).
create schema if not exists {{database}}.{{schema}}
    comment = 'ml-connector: SYSPRO landing log, targets, audit trail, procedures and tasks';
