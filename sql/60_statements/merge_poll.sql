-- Merges one poll from the landing log into the target. Snowflake errors on
-- a MERGE whose source has two rows for one key, so the source is deduped
-- first: the latest by watermark, then the last landed. A row is rewritten
-- only when it is not older than the target's version and it changed (its
-- hash, or its digest: a row merged before digests existed gets one), which
-- makes merging a poll twice a no-op. A soft-deleted row comes back only
-- from a poll landed after it was flagged (both Snowflake clock), so
-- replaying an old poll never resurrects a row SYSPRO deleted. A row is
-- its company's: the key is (company_id, record_key), so the same supplier
-- code in two companies is two rows, and a poll (one company's) never
-- touches another company's rows.
merge into {{database}}.{{schema}}.syspro__{{table_slug}} as target
using (
    select
        records.company_id,
        records.record_key,
        records.record,
        records.record_hash,
        records.record_digest,
        records.watermark_value,
        records.poll_id,
        records.fetched_at,
        records.landed_at
    from {{database}}.{{schema}}.raw_syspro__records as records
    where
        records.poll_id = :poll_id
        and records.company_id = :company_id
        and records.table_name = '{{table_name}}'
    qualify row_number() over (
        partition by records.company_id, records.record_key
        order by
            records.watermark_value desc nulls last,
            records.page_number desc,
            records.row_index desc
    ) = 1
) as source
on
    target.company_id = source.company_id
    and target.record_key = source.record_key
when matched
    and source.fetched_at >= target.fetched_at
    and (
        (
            not target.is_deleted
            and (
                source.record_hash <> target.record_hash
                or (
                    source.record_digest is not null
                    and (target.record_digest is null or source.record_digest <> target.record_digest)
                )
            )
        )
        or (target.is_deleted and source.landed_at > target.deleted_at)
    )
    then update set
        record = source.record,
        record_hash = source.record_hash,
        record_digest = source.record_digest,
        watermark_value = source.watermark_value,
        poll_id = source.poll_id,
        fetched_at = source.fetched_at,
        loaded_at = sysdate(),
        is_deleted = false,
        deleted_at = null,
        deleted_by_run_id = null
when not matched then insert (
    company_id,
    record_key,
    record,
    record_hash,
    record_digest,
    watermark_value,
    poll_id,
    first_poll_id,
    fetched_at,
    loaded_at,
    first_loaded_at,
    is_deleted
) values (
    source.company_id,
    source.record_key,
    source.record,
    source.record_hash,
    source.record_digest,
    source.watermark_value,
    source.poll_id,
    source.poll_id,
    source.fetched_at,
    sysdate(),
    sysdate(),
    false
)
