-- Reconciles every enabled table of a schedule group ('all' for every
-- group): tables with a watermark over the last `days` full days (today is
-- still being synced), snapshot tables whole. Same failure rules as
-- sync_syspro_group: every company, each company x table its own run. The
-- daily reconciliation task calls it.
create or replace procedure {{database}}.{{schema}}.reconcile_syspro_group(group_name varchar, days integer)
    returns variant
    language sql
    comment = 'ml-connector: reconcile every enabled table of a group (or all) over the last days'
    execute as owner
as
$$
declare
    current_table varchar;
    period_from varchar;
    period_to varchar;
    tables_reconciled integer default 0;
    tables_failed integer default 0;
    group_failed exception (-20113, 'reconciliation failed for one or more tables; see audit_syspro__runs');
begin
    {{enabled_tables}}
    for entry in enabled_cursor do
        current_table := entry.qualified_name;
        period_from := null;
        period_to := null;
        if (entry.watermark_column is not null) then
            period_from := to_varchar(dateadd(day, -days, {{site_today}}), 'YYYY-MM-DD');
            period_to := to_varchar({{site_today}}, 'YYYY-MM-DD');
        end if;
        begin
            call {{database}}.{{schema}}.reconcile_syspro_table(:current_table, :period_from, :period_to);
            tables_reconciled := tables_reconciled + 1;
        exception
            when other then
                tables_failed := tables_failed + 1;
        end;
    end for;
    if (tables_failed > 0) then
        raise group_failed;
    end if;
    return object_construct('group_name', group_name, 'tables_reconciled', tables_reconciled);
end;
$$;
