//! `ml-connector demo` on a machine with nothing configured: it finishes by itself, exits 0,
//! shows a payment run on old invoices and the AP balance equal to SYSPRO's after every sync,
//! the audit trail with the injected failure and the recovery, the three reports, its
//! self-check, and the next step — and never the secret it generated. It runs a group of two
//! SYSPRO companies (EDU1 in ZAR, UK1 in GBP) whose codes collide: both synced table by table,
//! audited per company, their colliding keys kept apart, and a group AP aging.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn the_demo_runs_end_to_end_without_configuration() {
    let run = run(&["demo"], &[], Duration::from_secs(180)).await;
    assert_eq!(run.code, 0, "{}", run.explain());
    let out = &run.stdout;
    for expected in [
        "Sync 1/4",
        "Sync 4/4",
        "Audit trail",
        "succeeded",
        "failed",
        "upstream_unavailable",
        "SYSPRO faults retried",
        "Group AP aging on",
        "Per-company totals",
        "total EDU1 ZAR",
        "total UK1 GBP",
        "Spend by supplier",
        "Stock by warehouse",
        "JHB",
        "LON",
        "total UK1",
        // both companies, configured as [companies.<ID>] and synced by qualified name
        "[companies.EDU1], [companies.UK1]",
        "✔ UK1.ApInvoice",
        "✔ EDU1.ApInvoice",
        // the same supplier code, two suppliers, each its company's row
        "supplier ACME is EDU1: ACME Components (Pty) Ltd — UK1: Acme Fasteners (UK) Ltd",
        "for each of the 2 companies the store equals that company's SYSPRO records",
        "Self-check ✔",
        // a payment run on old invoices, and AP right after the next sync
        "payment run:",
        "open items (MthInvBal1 ne 0)",
        "no longer open re-read by key",
        "AP open balance (MthInvBal1) in Snowflake",
        "verify:",
        "Next: ",
        "ml-connector check",
    ] {
        assert!(
            out.contains(expected),
            "no {expected:?} in:\n{}",
            run.explain()
        );
    }
    assert!(
        !out.contains("✘ differ"),
        "AP in Snowflake differed from SYSPRO's after a sync:\n{out}"
    );
    assert_eq!(
        out.matches("✔ equal").count(),
        8,
        "AP equals SYSPRO's after every sync, in each company:\n{out}"
    );
    // Every table of each company synced in every cycle (an audit row per company × table).
    for company in ["EDU1", "UK1"] {
        for table in [
            "ApSupplier",
            "ApInvoice",
            "GrnDetails",
            "InvMovements",
            "InvWarehouse",
        ] {
            let runs = audit_rows(out, company, table)
                .filter(|l| l.contains("succeeded"))
                .count();
            assert!(runs >= 3, "{company} {table}: {runs} succeeded runs\n{out}");
        }
    }
    // Keys collide between the companies (the same supplier codes, some invoice keys), and
    // the report counted them as rows of their own.
    let shared = out
        .lines()
        .find(|l| l.starts_with("Same codes, different companies:"))
        .unwrap_or_else(|| panic!("no collisions line:\n{out}"));
    assert!(
        shared.contains("60 supplier and") && !shared.contains(" 0 ApInvoice keys"),
        "{shared}"
    );
    // The outage was EDU1's: UK1's GrnDetails synced in that cycle.
    assert!(
        audit_rows(out, "UK1", "GrnDetails").all(|l| l.contains("succeeded")),
        "{out}"
    );
    // The failed run kept its watermark, and the next run of that table succeeded.
    let grn: Vec<&str> = audit_rows(out, "EDU1", "GrnDetails").collect();
    assert!(
        grn.iter()
            .any(|l| l.contains("(kept)") && l.contains("failed")),
        "{grn:#?}"
    );
    assert!(
        grn.last().is_some_and(|l| l.contains("succeeded")),
        "{grn:#?}"
    );
    // Nothing that looks like the generated secret (64 hex digits) or a long hex run.
    let all = run.all();
    let longest_hex = all
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_hex < 32, "a long hex string was printed:\n{all}");
    // The service's own log stays out of the demo's output unless asked for.
    assert!(run.stderr.trim().is_empty(), "{}", run.explain());
}

/// The audit trail's sync rows of one company's table: `<cycle> <company> sync <table> …`.
fn audit_rows<'a>(
    out: &'a str,
    company: &'a str,
    table: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    out.lines().filter(move |l| {
        let mut words = l.split_whitespace();
        let cycle = words.next().is_some_and(|w| w.parse::<u32>().is_ok());
        cycle
            && words.next() == Some(company)
            && words.next() == Some("sync")
            && words.next() == Some(table)
    })
}
