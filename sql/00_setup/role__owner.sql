-- The role that owns every ml-connector object: tables, procedures, tasks.
-- Tasks run as their owner, so this role also needs EXECUTE TASK (grants.sql).
create role if not exists {{owner_role}}
    comment = 'ml-connector: owns the SYSPRO sync objects and runs its tasks';
