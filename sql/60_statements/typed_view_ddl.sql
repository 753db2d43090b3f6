-- Builds the typed view of one table from syspro_schema's answer: every
-- SYSPRO column cast to its Snowflake type and renamed to snake_case
-- (MthInvBal1 -> mth_inv_bal1), over the non-deleted rows of the target.
-- Names and types are spliced into DDL, so unsafe_columns counts those that
-- are not plain identifiers and type names; the procedure refuses any > 0.
select
    'create or replace view ' || control.typed_view || ' as select target.record_key, '
    || listagg(
        'target.record:"' || item.value:name::varchar || '"::'
        || item.value:snowflake_type::varchar || ' as '
        || lower(
            regexp_replace(
                regexp_replace(item.value:name::varchar, '([A-Z]+)([A-Z][a-z])', '\\1_\\2'),
                '([a-z0-9])([A-Z])',
                '\\1_\\2'
            )
        ),
        ', '
    ) within group (order by item.index)
    || ', target.poll_id, target.fetched_at, target.loaded_at from '
    || control.target_table || ' as target where not target.is_deleted' as view_ddl,
    count_if(
        not regexp_like(item.value:name::varchar, '^[A-Za-z][A-Za-z0-9_]*$')
        or not regexp_like(
            item.value:snowflake_type::varchar, '^[A-Za-z_]+( ?[(][0-9]+( ?, ?[0-9]+)?[)])?$'
        )
    ) as unsafe_columns
from {{database}}.{{schema}}.raw_syspro__page_buffer as buffer
inner join {{database}}.{{schema}}.syspro_sync_control as control
    on control.table_name = buffer.table_name,
    lateral flatten(input => buffer.page:columns) as item
where
    buffer.run_id = :run_id
    and buffer.page_number = :page_number
    and buffer.page:error:kind is null
group by control.typed_view, control.target_table
