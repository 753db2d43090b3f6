-- Work tables earlier versions created under other names (raw_syspro__*:
-- they were never part of the landing log) or no longer use (seen_keys: the
-- key scan verify replaced). They hold only the in-flight rows of a run:
-- a run cut off earlier, or one still running while this setup runs (it
-- fails), is closed as abandoned by its table's next run, and its landed
-- pages stay. The landing log, the targets and the audit trail are untouched.
drop table if exists {{database}}.{{schema}}.raw_syspro__page_buffer;
drop table if exists {{database}}.{{schema}}.raw_syspro__seen_keys;
drop table if exists {{database}}.{{schema}}.raw_syspro__backfill_ranges;
drop table if exists {{database}}.{{schema}}.raw_syspro__refresh_keys;
drop table if exists {{database}}.{{schema}}.raw_syspro__verify_digests;
