-- Moves the stored high water to what this run's poll saw. The procedure
-- runs it in the MERGE's transaction, after the MERGE: the watermark never
-- gets ahead of the rows merged. It is capped at SYSPRO's read time so a
-- future-dated document cannot push `since` past rows still being posted,
-- and it never moves backwards. Each company has its own.
merge into {{database}}.{{schema}}.syspro_sync_state as state
using (
    select
        :company_id as company_id,
        :table_name as table_name,
        max(pages.poll_id) as poll_id,
        -- spelled out rather than least(): Snowflake's least() is null when
        -- any argument is, other engines skip nulls
        case
            when max(pages.high_water) > max(pages.fetched_at) then max(pages.fetched_at)
            else max(pages.high_water)
        end as pulled_high_water
    from {{database}}.{{schema}}.audit_syspro__pages as pages
    where pages.run_id = :run_id
) as pulled
on
    state.company_id = pulled.company_id
    and state.table_name = pulled.table_name
when matched then update set
    high_water = greatest(
        coalesce(pulled.pulled_high_water, state.high_water),
        coalesce(state.high_water, pulled.pulled_high_water)
    ),
    last_run_id = :run_id,
    last_poll_id = pulled.poll_id,
    updated_at = sysdate()
when not matched then insert (
    company_id,
    table_name,
    last_run_id,
    last_poll_id,
    high_water,
    updated_at
) values (
    pulled.company_id,
    pulled.table_name,
    :run_id,
    pulled.poll_id,
    pulled.pulled_high_water,
    sysdate()
)
