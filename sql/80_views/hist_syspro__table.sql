-- Type-2 history of SYSPRO {{table_name}}, rebuilt from the landing log: one
-- row per version of a record, valid from the SYSPRO read that first saw it
-- until the read that saw the next version (or until it was flagged deleted).
-- Overlapping polls re-read unchanged records; those collapse into one
-- version because consecutive reads with the same hash are not a change.
-- A record is its company's (company_id, record_key): filter by company_id.
create or replace view {{database}}.{{schema}}.hist_syspro__{{table_slug}} as
with

records as (
    select * from {{database}}.{{schema}}.raw_syspro__records
    where table_name = '{{table_name}}'
),

targets as (
    select * from {{database}}.{{schema}}.syspro__{{table_slug}}
),

-- a poll reads each key once, but dedupe the same way the MERGE does
reads as (
    select
        records.company_id,
        records.record_key,
        records.record,
        records.record_hash,
        records.poll_id,
        records.fetched_at,
        records.landed_at
    from records
    qualify row_number() over (
        partition by records.company_id, records.record_key, records.poll_id
        order by
            records.watermark_value desc nulls last,
            records.page_number desc,
            records.row_index desc
    ) = 1
),

compared as (
    select
        reads.*,
        lag(reads.record_hash) over (
            partition by reads.company_id, reads.record_key
            order by reads.fetched_at, reads.landed_at
        ) as previous_hash
    from reads
),

versions as (
    select * from compared
    where previous_hash is null or previous_hash <> record_hash
),

bounded as (
    select
        versions.*,
        lead(versions.fetched_at) over (
            partition by versions.company_id, versions.record_key
            order by versions.fetched_at, versions.landed_at
        ) as next_fetched_at
    from versions
),

final as (
    select
        -- ids
        bounded.company_id,
        bounded.record_key,
        bounded.poll_id,
        -- payload
        bounded.record,
        bounded.record_hash,
        -- validity: SYSPRO read times, except deleted_at (Snowflake's clock)
        bounded.fetched_at as valid_from,
        coalesce(
            bounded.next_fetched_at,
            case when targets.is_deleted then targets.deleted_at end
        ) as valid_to,
        bounded.next_fetched_at is null
            and not coalesce(targets.is_deleted, false) as is_current,
        bounded.next_fetched_at is null
            and coalesce(targets.is_deleted, false) as is_deleted,
        -- date/times
        bounded.landed_at
    from bounded
    left join targets
        on
            targets.company_id = bounded.company_id
            and targets.record_key = bounded.record_key
)

select * from final;
