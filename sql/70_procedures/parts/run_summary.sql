-- What an entry procedure returns: the audit_syspro__runs row of the run it
-- started under run_id, as one object (null when the run wrote no row).
select parse_json(max(to_json(run_row.summary)))
    into :summary
    from (
        select object_construct(*) as summary
        from {{database}}.{{schema}}.audit_syspro__runs as runs
        where runs.run_id = :run_id
    ) as run_row;
