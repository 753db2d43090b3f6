-- Splits a backfill from :since (inclusive, YYYY-MM-DD) up to tomorrow
-- into ranges of :range_months months: [since, since + m), [since + m,
-- since + 2m), ..., the last one ending tomorrow. Rows dated later than
-- that (future-dated documents) are read by the first incremental sync,
-- which has no upper bound. At most 2400 ranges.
insert into {{database}}.{{schema}}.work_syspro__backfill_ranges (
    run_id,
    company_id,
    table_name,
    range_number,
    range_since,
    range_until,
    page_cursor,
    is_done
)
select
    :run_id,
    :company_id,
    :table_name,
    grid.range_number,
    to_varchar(
        dateadd(month, (grid.range_number - 1) * :range_months, to_date(:since, 'YYYY-MM-DD')), 'YYYY-MM-DD'
    ),
    to_varchar(
        least(
            dateadd(month, grid.range_number * :range_months, to_date(:since, 'YYYY-MM-DD')),
            dateadd(day, 1, {{site_today}})
        ),
        'YYYY-MM-DD'
    ),
    cast(null as varchar),
    false
from (
    select row_number() over (order by seq4()) as range_number
    from table(generator(rowcount => 2400))
) as grid
where dateadd(month, (grid.range_number - 1) * :range_months, to_date(:since, 'YYYY-MM-DD')) <= {{site_today}}
