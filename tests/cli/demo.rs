//! `ml-connector demo` on a machine with nothing configured: it finishes by itself, exits 0,
//! shows a payment run on old invoices and the AP balance equal to SYSPRO's after every sync,
//! the audit trail with the injected failure and the recovery, the three reports, its
//! self-check, and the next step — and never the secret it generated.

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
        "AP aging on",
        "Spend by supplier",
        "Stock by warehouse",
        "JHB",
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
        4,
        "AP equals SYSPRO's after every sync:\n{out}"
    );
    // The failed run kept its watermark, and the next run of that table succeeded.
    let grn: Vec<&str> = out
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            let cycle = words.next().is_some_and(|w| w.parse::<u32>().is_ok());
            cycle && words.next() == Some("sync") && words.next() == Some("GrnDetails")
        })
        .collect();
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
