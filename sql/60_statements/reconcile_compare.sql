-- Compares SYSPRO's figures (the syspro_reconcile answer in the page buffer)
-- with the same figures over syspro__{{table_slug}}: per period, the row count and
-- the sum of every measure the answer lists, and of "measure:split value"
-- when it names a split column. Rows flagged deleted do not count; a
-- period is the day of watermark_value, or 'all' for snapshot tables. The
-- measures are read from the answer, so this statement follows the
-- service's catalog (reconcile_measures, reconcile_split) without change.
-- Amounts are compared as number(38, 10), never as floating point: a
-- period is 'drift' when a count or any sum differs by any amount. SYSPRO's
-- figures are one company's, so only that company's target rows count.
insert into {{database}}.{{schema}}.audit_syspro__reconciliation (
    run_id,
    company_id,
    table_name,
    period,
    period_from,
    period_to,
    syspro_row_count,
    target_row_count,
    row_count_difference,
    syspro_sums,
    target_sums,
    sum_differences,
    status,
    is_repull_triggered,
    repull_run_id,
    reconciled_at
)
with

answer as (
    select buffer.page
    from {{database}}.{{schema}}.work_syspro__pages as buffer
    where
        buffer.run_id = :run_id
        and buffer.page_number = :page_number
        and buffer.page:error:kind is null
),

measures as (
    select measure.value::varchar as measure_name
    from answer,
        lateral flatten(input => answer.page:measures) as measure
),

syspro_periods as (
    select
        period.value:period::varchar as period,
        period.value:row_count::number(18, 0) as row_count,
        period.value:sums as sums
    from answer,
        lateral flatten(input => answer.page:periods) as period
),

syspro_amounts as (
    select
        period.value:period::varchar as period,
        total.key as measure_key,
        total.value::varchar::number(38, 10) as amount
    from answer,
        lateral flatten(input => answer.page:periods) as period,
        lateral flatten(input => period.value:sums) as total
),

targets as (
    select
        target.record_key,
        target.record,
        case
            when answer.page:period_column::varchar is null then 'all'
            else coalesce(to_varchar(to_date(target.watermark_value), 'YYYY-MM-DD'), 'unknown')
        end as period
    from {{database}}.{{schema}}.syspro__{{table_slug}} as target
    cross join answer
    where
        target.company_id = :company_id
        and not target.is_deleted
        and (
            answer.page:period_from::varchar is null
            or to_date(target.watermark_value) >= to_date(answer.page:period_from::varchar, 'YYYY-MM-DD')
        )
        and (
            answer.page:period_to::varchar is null
            or to_date(target.watermark_value) < to_date(answer.page:period_to::varchar, 'YYYY-MM-DD')
        )
),

target_periods as (
    select
        targets.period,
        count(*) as row_count
    from targets
    group by targets.period
),

-- the record's fields as text (exact digits), matched to the measures and
-- to the split column by name
fields as (
    select
        targets.period,
        targets.record_key,
        field.key as field_name,
        field.value::varchar as field_text
    from targets,
        lateral flatten(input => targets.record) as field
),

target_values as (
    select
        fields.period,
        fields.record_key,
        fields.field_name as measure_name,
        try_cast(fields.field_text as number(38, 10)) as amount
    from fields
    inner join measures
        on measures.measure_name = fields.field_name
),

target_splits as (
    select
        fields.record_key,
        fields.field_text as split_value
    from fields
    cross join answer
    where
        fields.field_name = answer.page:split_by::varchar
        and fields.field_text is not null
),

-- the cast inside sum() is the type it already has; it keeps stand-ins that
-- sum untyped arguments as doubles (fakesnow) exact
target_amounts as (
    select
        target_values.period,
        target_values.measure_name as measure_key,
        sum(target_values.amount::number(38, 10)) as amount
    from target_values
    group by target_values.period, target_values.measure_name
    union all
    select
        target_values.period,
        target_values.measure_name || ':' || target_splits.split_value as measure_key,
        sum(target_values.amount::number(38, 10)) as amount
    from target_values
    inner join target_splits
        on target_splits.record_key = target_values.record_key
    group by target_values.period, target_values.measure_name, target_splits.split_value
),

amount_keys as (
    select syspro_amounts.period, syspro_amounts.measure_key from syspro_amounts
    union
    select target_amounts.period, target_amounts.measure_key from target_amounts
),

compared_amounts as (
    select
        amount_keys.period,
        amount_keys.measure_key,
        coalesce(syspro_amounts.amount, zero.amount) as syspro_amount,
        coalesce(target_amounts.amount, zero.amount) as target_amount,
        coalesce(syspro_amounts.amount, zero.amount) - coalesce(target_amounts.amount, zero.amount)
            as difference_amount
    from amount_keys
    -- a typed zero: mixing number(38, 10) with an integer makes some engines fall back to doubles
    cross join (select cast(0 as number(38, 10)) as amount) as zero
    left join syspro_amounts
        on
            syspro_amounts.period = amount_keys.period
            and syspro_amounts.measure_key = amount_keys.measure_key
    left join target_amounts
        on
            target_amounts.period = amount_keys.period
            and target_amounts.measure_key = amount_keys.measure_key
),

differences as (
    select
        compared_amounts.period,
        object_agg(compared_amounts.measure_key, compared_amounts.difference_amount::variant) as sum_differences,
        count(*) as drifting_measures
    from compared_amounts
    where compared_amounts.difference_amount <> 0
    group by compared_amounts.period
),

period_amounts as (
    select
        compared_amounts.period,
        object_agg(compared_amounts.measure_key, compared_amounts.target_amount::variant) as target_sums
    from compared_amounts
    group by compared_amounts.period
),

periods as (
    select syspro_periods.period from syspro_periods
    union
    select target_periods.period from target_periods
),

final as (
    select
        :run_id as run_id,
        :company_id as company_id,
        :table_name as table_name,
        periods.period,
        to_date(answer.page:period_from::varchar, 'YYYY-MM-DD') as period_from,
        to_date(answer.page:period_to::varchar, 'YYYY-MM-DD') as period_to,
        coalesce(syspro_periods.row_count, 0) as syspro_row_count,
        coalesce(target_periods.row_count, 0) as target_row_count,
        coalesce(syspro_periods.row_count, 0) - coalesce(target_periods.row_count, 0) as row_count_difference,
        coalesce(syspro_periods.sums, object_construct()) as syspro_sums,
        coalesce(period_amounts.target_sums, object_construct()) as target_sums,
        coalesce(differences.sum_differences, object_construct()) as sum_differences,
        case
            when coalesce(syspro_periods.row_count, 0) <> coalesce(target_periods.row_count, 0) then 'drift'
            when coalesce(differences.drifting_measures, 0) > 0 then 'drift'
            else 'ok'
        end as status,
        false as is_repull_triggered,
        cast(null as varchar) as repull_run_id,
        sysdate() as reconciled_at
    from periods
    cross join answer
    left join syspro_periods
        on syspro_periods.period = periods.period
    left join target_periods
        on target_periods.period = periods.period
    left join period_amounts
        on period_amounts.period = periods.period
    left join differences
        on differences.period = periods.period
)

select * from final
