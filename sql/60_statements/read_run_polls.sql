-- The polls a backfill landed (one per range): each is merged with
-- merge_poll, in the order they were pulled.
select
    records.poll_id
from {{database}}.{{schema}}.raw_syspro__records as records
where records.run_id = :run_id
group by records.poll_id
order by min(records.page_number)
