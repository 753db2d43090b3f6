//! The tasks (`sql/90_tasks/`): one sync task per schedule group, one verify task per verify
//! group, the reconciliation task, all created suspended, and `syspro_start()`, the one
//! procedure that resumes them.

use super::settings::{
    GROUP_FINANCIAL, GROUP_MASTERS, GROUP_NIGHTLY, GROUP_WEEKLY, SqlSettings, SqlTable,
};
use super::text::{escape_literal, push_file};
use super::vars::global_vars;

pub(super) fn push_tasks(out: &mut String, settings: &SqlSettings, tables: &[SqlTable]) {
    let globals = global_vars(settings);
    // every task is created suspended; syspro_start() resumes these
    let mut tasks: Vec<String> = Vec::new();
    for (group, schedule) in [
        (GROUP_FINANCIAL, &settings.financial_schedule),
        (GROUP_MASTERS, &settings.masters_schedule),
    ] {
        if tables.iter().any(|t| t.schedule_group() == group) {
            let mut vars = globals.clone();
            vars.insert("group_name", group.to_string());
            vars.insert("group_schedule", escape_literal(schedule));
            push_file(
                out,
                "90_tasks/task_syspro_sync__group.sql",
                Some(group),
                &vars,
            );
            tasks.push(format!("task_syspro_sync__{group}"));
        }
    }
    push_file(out, "90_tasks/retired_tasks.sql", None, &globals);
    for (group, schedule) in [
        (GROUP_NIGHTLY, &settings.verify_nightly_schedule),
        (GROUP_WEEKLY, &settings.verify_weekly_schedule),
    ] {
        if tables.iter().any(|t| t.verify_group() == group) {
            let mut vars = globals.clone();
            vars.insert("group_name", group.to_string());
            vars.insert("group_schedule", escape_literal(schedule));
            push_file(
                out,
                "90_tasks/task_syspro_verify__group.sql",
                Some(group),
                &vars,
            );
            tasks.push(format!("task_syspro_verify__{group}"));
        }
    }
    push_file(out, "90_tasks/task_syspro_reconcile.sql", None, &globals);
    tasks.push("task_syspro_reconcile".to_string());
    let mut start = globals.clone();
    start.insert(
        "resume_tasks",
        tasks
            .iter()
            .map(|task| {
                format!(
                    "    alter task {}.{}.{task} resume;\n    tasks_resumed := array_append(tasks_resumed, '{task}');",
                    settings.database, settings.schema
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    push_file(out, "90_tasks/syspro_start.sql", None, &start);
}
