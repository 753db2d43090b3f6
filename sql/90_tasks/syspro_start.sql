-- The one call that starts the schedule, once the gateway trust is finished
-- (deploy/ explains each cloud):   call syspro_start();
-- It asks the service for its catalog through the gateway (syspro_tables())
-- and resumes the tasks only when that answer is good; otherwise it returns
-- what is wrong and leaves every task suspended, so a half-finished set-up
-- cannot fail into SUSPEND_TASK_AFTER_NUM_FAILURES. Run it again after every
-- re-run of the setup (CREATE OR REPLACE TASK leaves tasks suspended).
create or replace procedure {{database}}.{{schema}}.syspro_start()
    returns variant
    language sql
    comment = 'ml-connector: check the gateway answers, then resume the sync, verify and reconcile tasks'
    execute as owner
as
$$
declare
    answer_json varchar;
    answer variant;
    table_count integer;
    tasks_resumed array default array_construct();
begin
    -- an aggregate always returns exactly one row, so INTO never sees zero
    -- https://docs.snowflake.com/en/sql-reference/constructs/into
    answer_json := null;
    begin
        select max(to_json(call_answer.answer))
            into :answer_json
            from (select {{database}}.{{schema}}.syspro_tables() as answer) as call_answer;
    exception
        when other then
            return object_construct(
                'ok', false,
                'step', 'gateway',
                'error', sqlerrm,
                'hint', 'Snowflake could not call the gateway: finish its trust set-up (describe integration {{integration}}; deploy/), check api_allowed_prefixes and the mlc-secret header, then call syspro_start() again. No task was resumed.'
            );
    end;
    answer := parse_json(answer_json);
    if (answer is null or answer:error is not null or answer:tables is null) then
        return object_construct(
            'ok', false,
            'step', 'service',
            'answer', answer,
            'hint', 'The gateway answered but the service reported an error (or no catalog): check ml-connector serve and its SYSPRO connection, then call syspro_start() again. No task was resumed.'
        );
    end if;
    table_count := array_size(answer:tables);
{{resume_tasks}}
    return object_construct('ok', true, 'service_tables', table_count, 'tasks_resumed', tasks_resumed);
end;
$$;
