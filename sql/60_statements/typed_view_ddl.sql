-- Builds the typed view of one table from syspro_schema's answer: every
-- SYSPRO column cast to its Snowflake type and renamed to snake_case
-- (MthInvBal1 -> mth_inv_bal1), over the non-deleted rows of the target.
-- Names and types are spliced into DDL, so unsafe_columns counts those that
-- are not plain identifiers and type names; the procedure refuses any > 0.
-- Every alias is a QUOTED upper-case identifier ("MTH_INV_BAL1"): a reserved
-- word (ORDER, GROUP, START, CURRENT, ...) is legal quoted, and an upper-case
-- quoted name is the one an unquoted reference resolves to, so readers still
-- write mth_inv_bal1 (https://docs.snowflake.com/en/sql-reference/identifiers-syntax,
-- https://docs.snowflake.com/en/sql-reference/reserved-keywords). A name that
-- collides with another after snake_case, or with the view's own columns
-- (company_id, record_key, poll_id, fetched_at, loaded_at), gets its
-- position appended. The view covers every company's rows (company_id
-- first); the schema is asked of one company, as the tables are the same.
with

schema_columns as (
    select
        control.typed_view,
        control.target_table,
        item.index as column_index,
        item.value:name::varchar as column_name,
        item.value:snowflake_type::varchar as column_type,
        upper(
            regexp_replace(
                regexp_replace(item.value:name::varchar, '([A-Z]+)([A-Z][a-z])', '\\1_\\2'),
                '([a-z0-9])([A-Z])',
                '\\1_\\2'
            )
        ) as base_alias
    from {{database}}.{{schema}}.work_syspro__pages as buffer
    inner join {{database}}.{{schema}}.syspro_sync_control as control
        on
            control.company_id = buffer.company_id
            and control.table_name = buffer.table_name,
        lateral flatten(input => buffer.page:columns) as item
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
),

named_columns as (
    select
        schema_columns.typed_view,
        schema_columns.target_table,
        schema_columns.column_index,
        schema_columns.column_name,
        schema_columns.column_type,
        case
            when
                schema_columns.base_alias in ('COMPANY_ID', 'RECORD_KEY', 'POLL_ID', 'FETCHED_AT', 'LOADED_AT')
                or row_number() over (
                    partition by schema_columns.base_alias order by schema_columns.column_index
                ) > 1
                then schema_columns.base_alias || '_' || to_varchar(schema_columns.column_index + 1)
            else schema_columns.base_alias
        end as column_alias
    from schema_columns
)

select
    'create or replace view ' || named_columns.typed_view || ' as select target.company_id, target.record_key, '
    || listagg(
        'target.record:"' || named_columns.column_name || '"::'
        || named_columns.column_type || ' as "' || named_columns.column_alias || '"',
        ', '
    ) within group (order by named_columns.column_index)
    || ', target.poll_id, target.fetched_at, target.loaded_at from '
    || named_columns.target_table || ' as target where not target.is_deleted' as view_ddl,
    count_if(
        not regexp_like(named_columns.column_name, '^[A-Za-z][A-Za-z0-9_]*$')
        or not regexp_like(
            named_columns.column_type, '^[A-Za-z_]+( ?[(][0-9]+( ?, ?[0-9]+)?[)])?$'
        )
    ) as unsafe_columns
from named_columns
group by named_columns.typed_view, named_columns.target_table
