//! One business day of SYSPRO activity. Unlike [`MutationPlan`](super::MutationPlan), which
//! only touches rows whose watermark is inside an overlap window, a business day changes rows
//! of ANY age without moving the date a sync filters on (syspro.md §5.2: "records change
//! later, for example MthInvBal1..3, InvoiceStatus and PO quantities"; syspro.md §7, the
//! "does the date move when the row changes?" column), posts into earlier open periods
//! (syspro.md §5.3) and hard-deletes rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Datelike;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{
    MutationReport, NULL, State, TableMutations, V, add_days, cents, date_to_secs, dt, int,
    matched_value, s,
};
use crate::schema;

/// What one business day does. Counts are per day (not per table). The [`Default`] is a
/// realistic day for the default data sizes; [`BusinessDayPlan::idle`] does nothing, so a
/// test can switch on one activity with `BusinessDayPlan { po_completions: 5, ..BusinessDayPlan::idle() }`.
///
/// An activity runs when its main table is selected (`tables`); it writes its side effects
/// only into selected tables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BusinessDayPlan {
    /// Payment run: share of the open invoices (`MthInvBal1 > 0`, any age) paid today, due
    /// ones first (`DueDate` within a week). Main table ApInvoice; writes ApInvoicePay rows
    /// dated today and ApSupplier `CurrentBalance`/`LastChequeDate`.
    pub payment_run_share: f64,
    /// Share of the paid invoices paid only in part (20–80% of the balance).
    pub partial_payment_share: f64,
    /// Open POs (status '1'/'4') at least 14 days old completed today. Writes PorMasterDetail
    /// line flags.
    pub po_completions: usize,
    /// Open POs at least 7 days old cancelled today; their lines with nothing received are
    /// deleted (PorMasterDetail).
    pub po_cancellations: usize,
    /// GRN lines (not fully matched, any age) matched to supplier invoices, fully or in part.
    pub grn_matches: usize,
    /// Unposted journals (all their lines, any age) posted; GenMaster and GenHistory balances
    /// follow.
    pub journal_postings: usize,
    /// Edits per master table (ApSupplier, ArCustomer, InvMaster, InvWarehouse).
    pub master_edits: usize,
    /// New invoices dated today (open).
    pub new_invoices: usize,
    /// New purchase orders dated today, with lines.
    pub new_purchase_orders: usize,
    /// Receipts today against open PO lines (GrnDetails rows; PorMasterDetail and
    /// PorMasterHdr updated).
    pub new_receipts: usize,
    /// New journals dated today, unposted.
    pub new_journals: usize,
    /// New stock movements dated today.
    pub new_movements: usize,
    /// Back-dated inserts (an invoice, an unposted journal or a stock movement) with a
    /// watermark `backdate_min_days..=backdate_max_days` before the business date.
    pub backdated: usize,
    pub backdate_min_days: u32,
    pub backdate_max_days: u32,
    /// Fully paid invoices older than 120 days purged, with their ApInvoicePay rows.
    pub invoice_purges: usize,
    /// Unposted journals (any age) deleted, all lines.
    pub journal_deletes: usize,
    /// Table names; `None` = all 13 tables.
    pub tables: Option<Vec<String>>,
}

impl Default for BusinessDayPlan {
    fn default() -> Self {
        // Default data: ~450 open invoices, ~170 open POs, ~1,500 GRN lines, ~800 journals
        // over ~183 days, ~22 stock movements a day.
        BusinessDayPlan {
            payment_run_share: 0.05,
            partial_payment_share: 0.3,
            po_completions: 4,
            po_cancellations: 1,
            grn_matches: 10,
            journal_postings: 8,
            master_edits: 3,
            new_invoices: 8,
            new_purchase_orders: 3,
            new_receipts: 8,
            new_journals: 5,
            new_movements: 22,
            backdated: 2,
            backdate_min_days: 10,
            backdate_max_days: 45,
            invoice_purges: 2,
            journal_deletes: 1,
            tables: None,
        }
    }
}

impl BusinessDayPlan {
    /// A day on which nothing happens (every count and share 0; back-dating window 10–45).
    pub fn idle() -> Self {
        BusinessDayPlan {
            payment_run_share: 0.0,
            partial_payment_share: 0.0,
            po_completions: 0,
            po_cancellations: 0,
            grn_matches: 0,
            journal_postings: 0,
            master_edits: 0,
            new_invoices: 0,
            new_purchase_orders: 0,
            new_receipts: 0,
            new_journals: 0,
            new_movements: 0,
            backdated: 0,
            invoice_purges: 0,
            journal_deletes: 0,
            ..Default::default()
        }
    }
}

/// What the day touched, by row index (deletes are recorded as keys when they happen; all
/// deletes happen before any update, so row indices stay valid afterwards).
struct Day {
    sel: Vec<bool>,
    deleted: Vec<Vec<serde_json::Map<String, serde_json::Value>>>,
    updated: Vec<BTreeSet<usize>>,
    /// Row count of each table after the deletes: rows from here on are inserts.
    ins_from: Vec<usize>,
}

/// Table indices, in [`schema::TABLE_NAMES`] order.
struct Tix {
    inv: usize,
    pay: usize,
    sup: usize,
    hdr: usize,
    det: usize,
    gm: usize,
    gh: usize,
    gjd: usize,
    im: usize,
    iw: usize,
    mov: usize,
    grn: usize,
    cus: usize,
}

fn tix() -> Tix {
    let t = |n| schema::table_index(n).expect("table");
    Tix {
        inv: t("ApInvoice"),
        pay: t("ApInvoicePay"),
        sup: t("ApSupplier"),
        hdr: t("PorMasterHdr"),
        det: t("PorMasterDetail"),
        gm: t("GenMaster"),
        gh: t("GenHistory"),
        gjd: t("GenJournalDetail"),
        im: t("InvMaster"),
        iw: t("InvWarehouse"),
        mov: t("InvMovements"),
        grn: t("GrnDetails"),
        cus: t("ArCustomer"),
    }
}

const UNIT6: i64 = 1_000_000;

impl State {
    pub fn business_day(&mut self, plan: &BusinessDayPlan) -> MutationReport {
        let mut report = MutationReport {
            business_date: Some(self.date),
            ..Default::default()
        };
        let n = self.tables.len();
        let mut sel = vec![plan.tables.is_none(); n];
        for name in plan.tables.iter().flatten() {
            match schema::table_index(name) {
                Some(t) => sel[t] = true,
                None => report.unknown_tables.push(name.clone()),
            }
        }
        let mut day = Day {
            sel,
            deleted: vec![Vec::new(); n],
            updated: vec![BTreeSet::new(); n],
            ins_from: Vec::new(),
        };
        let x = tix();

        // 1. hard deletes (before any update: row indices move on delete)
        self.purge_invoices(&mut day, &x, plan.invoice_purges);
        self.delete_journals(&mut day, &x, plan.journal_deletes);
        self.cancel_pos(&mut day, &x, plan.po_cancellations);
        day.ins_from = self.tables.iter().map(|t| t.len()).collect();

        // 2. changes to rows of any age; no watermark column is written
        self.complete_pos(&mut day, &x, plan.po_completions);
        self.payment_run(&mut day, &x, plan);
        self.match_grns(&mut day, &x, plan.grn_matches);
        self.post_journals(&mut day, &x, plan.journal_postings);
        self.edit_masters(&mut day, &x, plan.master_edits);

        // 3. inserts dated today, then back-dated ones
        self.day_inserts(&mut day, &x, plan);

        for name in schema::TABLE_NAMES {
            let t = schema::table_index(name).expect("table");
            if !day.sel[t] {
                continue;
            }
            let tb = &self.tables[t];
            let from = day.ins_from[t];
            report.tables.insert(
                name.to_string(),
                TableMutations {
                    inserted: (from..tb.len()).map(|r| tb.expected_key(r)).collect(),
                    updated: day.updated[t]
                        .iter()
                        .filter(|&&r| r < from)
                        .map(|&r| tb.expected_key(r))
                        .collect(),
                    deleted: std::mem::take(&mut day.deleted[t]),
                },
            );
        }
        report
    }

    // ------------------------------------------------------------------ helpers

    fn sv(&self, t: usize, r: usize, col: &str) -> String {
        let tb = &self.tables[t];
        let cell = tb.cell(r, tb.def.ix(col));
        if cell == NULL {
            String::new()
        } else {
            tb.get_str(cell).trim_end_matches(' ').to_string()
        }
    }

    /// Raw cell of a decimal (mantissa at the column's scale) or date (seconds) column.
    fn nv(&self, t: usize, r: usize, col: &str) -> i64 {
        let tb = &self.tables[t];
        tb.cell(r, tb.def.ix(col)) as i64
    }

    fn upd(&mut self, day: &mut Day, t: usize, r: usize, col: &str, v: V) {
        if day.sel[t] {
            self.set(t, r, col, v);
            day.updated[t].insert(r);
        }
    }

    fn del(&mut self, day: &mut Day, t: usize, rows: Vec<usize>) {
        if !day.sel[t] || rows.is_empty() {
            return;
        }
        for &r in &rows {
            day.deleted[t].push(self.tables[t].expected_key(r));
        }
        self.tables[t].delete_rows(rows);
    }

    /// `k` of `cands`, in their order.
    fn sample(&mut self, cands: &[usize], k: usize) -> Vec<usize> {
        let mut ix =
            rand::seq::index::sample(&mut self.rng, cands.len(), k.min(cands.len())).into_vec();
        ix.sort_unstable();
        ix.into_iter().map(|i| cands[i]).collect()
    }

    fn rows_where(&self, t: usize, f: impl Fn(usize) -> bool) -> Vec<usize> {
        (0..self.tables[t].len()).filter(|&r| f(r)).collect()
    }

    fn days_old(&self, t: usize, r: usize, col: &str) -> i64 {
        (date_to_secs(self.date) - self.nv(t, r, col)) / 86_400
    }

    /// PurchaseOrder -> its PorMasterDetail rows.
    fn po_lines(&self, x: &Tix) -> HashMap<String, Vec<usize>> {
        let mut m: HashMap<String, Vec<usize>> = HashMap::new();
        for r in 0..self.tables[x.det].len() {
            m.entry(self.sv(x.det, r, "PurchaseOrder"))
                .or_default()
                .push(r);
        }
        m
    }

    /// Unposted journals: (GlYear, GlPeriod, Journal) -> rows.
    fn unposted_journals(&self, x: &Tix) -> BTreeMap<(i64, i64, i64), Vec<usize>> {
        let mut m: BTreeMap<(i64, i64, i64), Vec<usize>> = BTreeMap::new();
        for r in 0..self.tables[x.gjd].len() {
            if self.sv(x.gjd, r, "EntryPosted") == "N" {
                let k = (
                    self.nv(x.gjd, r, "GlYear"),
                    self.nv(x.gjd, r, "GlPeriod"),
                    self.nv(x.gjd, r, "Journal"),
                );
                m.entry(k).or_default().push(r);
            }
        }
        m
    }

    // ------------------------------------------------------------------ deletes

    /// Purge of old fully paid invoices and their payments (a hard delete far outside any
    /// overlap window: only a full re-read sees it).
    fn purge_invoices(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 || !day.sel[x.inv] {
            return;
        }
        let cut = date_to_secs(add_days(self.date, -120));
        let cands = self.rows_where(x.inv, |r| {
            self.nv(x.inv, r, "MthInvBal1") == 0 && self.nv(x.inv, r, "JournalDate") <= cut
        });
        let rows = self.sample(&cands, k);
        let keys: std::collections::HashSet<(String, String)> = rows
            .iter()
            .map(|&r| (self.sv(x.inv, r, "Supplier"), self.sv(x.inv, r, "Invoice")))
            .collect();
        let pays = self.rows_where(x.pay, |r| {
            keys.contains(&(self.sv(x.pay, r, "Supplier"), self.sv(x.pay, r, "Invoice")))
        });
        self.del(day, x.pay, pays);
        self.del(day, x.inv, rows);
    }

    /// Unposted journals deleted (only unposted journals can be).
    fn delete_journals(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 || !day.sel[x.gjd] {
            return;
        }
        let groups: Vec<Vec<usize>> = self.unposted_journals(x).into_values().collect();
        let pick = self.sample(&(0..groups.len()).collect::<Vec<_>>(), k);
        let rows: Vec<usize> = pick.into_iter().flat_map(|g| groups[g].clone()).collect();
        self.del(day, x.gjd, rows);
    }

    fn open_pos(&self, x: &Tix, min_age: i64) -> Vec<usize> {
        self.rows_where(x.hdr, |r| {
            matches!(self.sv(x.hdr, r, "OrderStatus").as_str(), "1" | "4")
                && self.days_old(x.hdr, r, "OrderEntryDate") >= min_age
        })
    }

    /// syspro.md §7: "OrderStatus, CancelledFlag, DatePoCompleted change later";
    /// OrderEntryDate stays. Lines with nothing received are deleted.
    fn cancel_pos(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 || !day.sel[x.hdr] {
            return;
        }
        let cands = self.open_pos(x, 7);
        let rows = self.sample(&cands, k);
        let lines = self.po_lines(x);
        let mut gone = Vec::new();
        for r in rows {
            self.upd(day, x.hdr, r, "OrderStatus", s("*"));
            self.upd(day, x.hdr, r, "CancelledFlag", s("Y"));
            self.upd(day, x.hdr, r, "ActiveFlag", s(" "));
            let po = self.sv(x.hdr, r, "PurchaseOrder");
            for &l in lines.get(&po).into_iter().flatten() {
                if self.nv(x.det, l, "MReceivedQty") == 0 {
                    gone.push(l);
                }
            }
        }
        self.del(day, x.det, gone);
    }

    // ------------------------------------------------------------------ updates

    fn complete_pos(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 || !day.sel[x.hdr] {
            return;
        }
        let cands = self.open_pos(x, 14);
        let rows = self.sample(&cands, k);
        let lines = self.po_lines(x);
        let today = dt(self.date);
        for r in rows {
            self.upd(day, x.hdr, r, "OrderStatus", s("9"));
            self.upd(day, x.hdr, r, "ActiveFlag", s(" "));
            self.upd(day, x.hdr, r, "DatePoCompleted", today.clone());
            // completing a PO closes its open lines (short-closed: no GRN for the rest)
            let po = self.sv(x.hdr, r, "PurchaseOrder");
            for &l in lines.get(&po).into_iter().flatten() {
                if self.sv(x.det, l, "OrderLineStatus") != "9" {
                    self.upd(day, x.det, l, "MCompleteFlag", s("Y"));
                    self.upd(day, x.det, l, "OrderLineStatus", s("9"));
                }
            }
        }
    }

    /// syspro.md §5.2 / §7: payments change MthInvBal1 and InvoiceStatus; JournalDate stays.
    /// The payment is written to ApInvoicePay dated today (its JournalDate is the posting date).
    fn payment_run(&mut self, day: &mut Day, x: &Tix, plan: &BusinessDayPlan) {
        let share = plan.payment_run_share.clamp(0.0, 1.0);
        if share <= 0.0 || !day.sel[x.inv] {
            return;
        }
        let open = self.rows_where(x.inv, |r| self.nv(x.inv, r, "MthInvBal1") > 0);
        if open.is_empty() {
            return;
        }
        let k = ((open.len() as f64 * share).round() as usize).max(1);
        let due_by = date_to_secs(add_days(self.date, 7));
        let (due, later): (Vec<usize>, Vec<usize>) = open
            .iter()
            .partition(|&&r| self.nv(x.inv, r, "DueDate") <= due_by);
        let mut rows = self.sample(&due, k);
        if rows.len() < k {
            let more = self.sample(&later, k - rows.len());
            rows.extend(more);
        }
        let suppliers: HashMap<String, usize> = (0..self.tables[x.sup].len())
            .map(|r| (self.sv(x.sup, r, "Supplier"), r))
            .collect();
        let today = self.date;
        let partial = plan.partial_payment_share.clamp(0.0, 1.0);
        for r in rows {
            let bal = self.nv(x.inv, r, "MthInvBal1");
            let amount = if bal >= 2 && self.rng.gen_bool(partial) {
                (bal * self.rng.gen_range(20..=80) / 100).clamp(1, bal - 1)
            } else {
                bal
            };
            let new = bal - amount;
            self.upd(day, x.inv, r, "MthInvBal1", cents(new));
            if new == 0 {
                // ASSUMED: 'P' once fully paid, blank while a balance is open (syspro.md §3
                // gives the column, not its values).
                self.upd(day, x.inv, r, "InvoiceStatus", s("P"));
                self.upd(day, x.inv, r, "YearInvBalZero", int(today.year() as i64));
                self.upd(day, x.inv, r, "MonthInvBalZero", int(today.month() as i64));
            }
            let sup = self.sv(x.inv, r, "Supplier");
            let inv = self.sv(x.inv, r, "Invoice");
            let cur = self.sv(x.inv, r, "Currency");
            if day.sel[x.pay] {
                let row = self.payment_row(&sup, &inv, today, amount, &cur);
                self.tables[x.pay].push(row);
            }
            if let Some(&sr) = suppliers.get(&sup) {
                let cb = self.nv(x.sup, sr, "CurrentBalance");
                self.upd(day, x.sup, sr, "CurrentBalance", cents(cb - amount));
                self.upd(day, x.sup, sr, "LastChequeDate", dt(today));
            }
        }
    }

    /// syspro.md §7: "MatchedValue changes when invoices are matched"; OrigReceiptDate stays.
    fn match_grns(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 || !day.sel[x.grn] {
            return;
        }
        let today = date_to_secs(self.date);
        let cands = self.rows_where(x.grn, |r| {
            self.nv(x.grn, r, "OrigReceiptDate") < today
                && self.nv(x.grn, r, "MatchedQty") < self.nv(x.grn, r, "QtyReceived")
        });
        for r in self.sample(&cands, k) {
            let qty = self.nv(x.grn, r, "QtyReceived");
            let done = self.nv(x.grn, r, "MatchedQty");
            let left = (qty - done) / UNIT6;
            let mq = if left >= 2 && self.rng.gen_bool(0.3) {
                done + self.rng.gen_range(1..left) * UNIT6
            } else {
                qty
            };
            let value = self.nv(x.grn, r, "OrigGrnValue") as i128;
            let mv = matched_value(value, qty as i128, mq as i128);
            self.upd(day, x.grn, r, "MatchedQty", V::Dec(mq as i128, 6));
            self.upd(day, x.grn, r, "MatchedValue", V::Dec(mv, 2));
        }
    }

    /// syspro.md §7: "EntryPosted flips N → Y later"; EntryDate stays. Posting moves the
    /// GenMaster balance (and the period-to-date values for the current period) and the
    /// GenHistory closing balances from the line's period on (syspro.md §3 [BB]).
    fn post_journals(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 || !day.sel[x.gjd] {
            return;
        }
        let groups: Vec<Vec<usize>> = self.unposted_journals(x).into_values().collect();
        let pick = self.sample(&(0..groups.len()).collect::<Vec<_>>(), k);
        let gm: HashMap<String, usize> = (0..self.tables[x.gm].len())
            .map(|r| (self.sv(x.gm, r, "GlCode"), r))
            .collect();
        let gh: HashMap<(String, i64), usize> = (0..self.tables[x.gh].len())
            .map(|r| ((self.sv(x.gh, r, "GlCode"), self.nv(x.gh, r, "GlYear")), r))
            .collect();
        let (cy, cp) = (self.date.year() as i64, self.date.month() as i64);
        for g in pick {
            for &r in &groups[g] {
                self.upd(day, x.gjd, r, "EntryPosted", s("Y"));
                let code = self.sv(x.gjd, r, "GlCode");
                let v = self.nv(x.gjd, r, "EntryValue");
                let debit = self.sv(x.gjd, r, "EntryType") == "D";
                let signed = if debit { v } else { -v };
                let (y, p) = (self.nv(x.gjd, r, "GlYear"), self.nv(x.gjd, r, "GlPeriod"));
                if let Some(&m) = gm.get(&code) {
                    let cb = self.nv(x.gm, m, "CurrentBalance");
                    self.upd(day, x.gm, m, "CurrentBalance", cents(cb + signed));
                    if (y, p) == (cy, cp) {
                        let col = if debit { "PtdDrValue" } else { "PtdCrValue" };
                        let old = self.nv(x.gm, m, col);
                        self.upd(day, x.gm, m, col, cents(old + v));
                    }
                }
                if let Some(&h) = gh.get(&(code, y)) {
                    for per in p.max(1)..=15 {
                        let col = format!("ClosingBalPer{per}");
                        let old = self.nv(x.gh, h, &col);
                        self.upd(day, x.gh, h, &col, cents(old + signed));
                    }
                }
            }
        }
    }

    /// Master edits move no date (syspro.md §7: ApSupplier, ArCustomer, InvMaster and
    /// InvWarehouse edits are logged in amendment journals, not in a date column).
    fn edit_masters(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 {
            return;
        }
        for t in [x.sup, x.cus, x.im, x.iw] {
            if !day.sel[t] {
                continue;
            }
            let all: Vec<usize> = (0..self.tables[t].len()).collect();
            for r in self.sample(&all, k) {
                let a = self.rng.gen_bool(0.5);
                if t == x.sup {
                    if a {
                        let hold = self.sv(t, r, "OnHold") == "Y";
                        self.upd(day, t, r, "OnHold", s(if hold { " " } else { "Y" }));
                    } else {
                        let old = self.sv(t, r, "TermsCode");
                        let opts: Vec<&str> = ["30", "60", "CO", "7"]
                            .into_iter()
                            .filter(|c| *c != old)
                            .collect();
                        let c = opts[self.rng.gen_range(0..opts.len())];
                        self.upd(day, t, r, "TermsCode", s(c));
                    }
                } else if t == x.cus {
                    let old = self.nv(t, r, "CreditLimit");
                    let step = self.rng.gen_range(1..=10) * 5_000;
                    let new = if a || old <= step {
                        old + step
                    } else {
                        old - step
                    };
                    self.upd(day, t, r, "CreditLimit", int(new));
                    if self.rng.gen_bool(0.3) {
                        let old = self.sv(t, r, "CreditStatus");
                        let c = match old.as_str() {
                            "" => "H",
                            "H" => "C",
                            _ => " ",
                        };
                        self.upd(day, t, r, "CreditStatus", s(c));
                    }
                } else if t == x.im {
                    if a || self.rng.gen_bool(0.4) {
                        let old = self.nv(t, r, "MaterialCost");
                        let pct = self.rng.gen_range(-5..=10i64);
                        let new = (old + old * pct / 100).max(1);
                        let new = if new == old { old + 1 } else { new };
                        self.upd(day, t, r, "MaterialCost", V::Dec(new as i128, 5));
                    } else {
                        let old = self.sv(t, r, "Description");
                        let core: String = old
                            .split(" (pack ")
                            .next()
                            .unwrap_or("")
                            .chars()
                            .take(36)
                            .collect();
                        let n = self.rng.gen_range(2..100);
                        let new = format!("{} (pack {n})", core.trim_end());
                        let new = if new == old {
                            format!("{} (pack {})", core.trim_end(), n + 100)
                        } else {
                            new
                        };
                        self.upd(day, t, r, "Description", s(new));
                    }
                } else {
                    let on_hand = self.nv(t, r, "QtyOnHand") / UNIT6;
                    let old_alloc = self.nv(t, r, "QtyAllocated") / UNIT6;
                    let mut alloc = self.rng.gen_range(0..=on_hand.max(1));
                    if alloc == old_alloc {
                        alloc += 1;
                    }
                    self.upd(day, t, r, "QtyAllocated", V::Dec(alloc as i128, 0));
                    let on_order = self.nv(t, r, "QtyOnOrder") / UNIT6;
                    let delta = self.rng.gen_range(1..200);
                    let new = if a || on_order < delta {
                        on_order + delta
                    } else {
                        on_order - delta
                    };
                    self.upd(day, t, r, "QtyOnOrder", V::Dec(new as i128, 0));
                }
            }
        }
    }

    // ------------------------------------------------------------------ inserts

    fn day_inserts(&mut self, day: &mut Day, x: &Tix, plan: &BusinessDayPlan) {
        let today = self.date;
        if day.sel[x.inv] {
            for _ in 0..plan.new_invoices {
                self.gen_ap_invoice(today, false, false, true);
            }
        }
        if day.sel[x.grn] {
            self.receipts(day, x, plan.new_receipts);
        }
        if day.sel[x.hdr] {
            for _ in 0..plan.new_purchase_orders {
                let r = self.gen_po(today, day.sel[x.det]);
                if self.sv(x.hdr, r, "OrderStatus") != "1" {
                    self.set(x.hdr, r, "OrderStatus", s("1"));
                    self.set(x.hdr, r, "ActiveFlag", s("Y"));
                    self.set(x.hdr, r, "CancelledFlag", s(" "));
                }
            }
        }
        if day.sel[x.gjd] {
            for _ in 0..plan.new_journals {
                self.gen_journal(today, None, Some(false));
            }
        }
        if day.sel[x.mov] {
            for _ in 0..plan.new_movements {
                self.gen_movement(today);
            }
        }
        // Postings into an earlier open period (syspro.md §5.3), older than any overlap window.
        let targets: Vec<usize> = [x.inv, x.gjd, x.mov]
            .into_iter()
            .filter(|&t| day.sel[t])
            .collect();
        if targets.is_empty() {
            return;
        }
        let lo = plan.backdate_min_days.min(plan.backdate_max_days);
        let hi = plan.backdate_min_days.max(plan.backdate_max_days);
        for _ in 0..plan.backdated {
            let t = targets[self.rng.gen_range(0..targets.len())];
            let d = add_days(today, -(self.rng.gen_range(lo..=hi) as i64));
            if t == x.inv {
                self.gen_ap_invoice(d, false, false, true);
            } else if t == x.gjd {
                self.gen_journal(d, None, Some(false));
            } else {
                self.gen_movement(d);
            }
        }
    }

    /// Receipts today against open lines of open POs: a GrnDetails row (unmatched), the
    /// line's received quantity and last receipt date, the header's status ('1' → '4').
    fn receipts(&mut self, day: &mut Day, x: &Tix, k: usize) {
        if k == 0 {
            return;
        }
        let today = self.date;
        let hdrs: HashMap<String, usize> = self
            .open_pos(x, 0)
            .into_iter()
            .map(|r| (self.sv(x.hdr, r, "PurchaseOrder"), r))
            .collect();
        let cands = self.rows_where(x.det, |l| {
            hdrs.contains_key(&self.sv(x.det, l, "PurchaseOrder"))
                && self.sv(x.det, l, "OrderLineStatus") != "9"
                && self.nv(x.det, l, "MReceivedQty") < self.nv(x.det, l, "MOrderQty")
        });
        let lines = self.sample(&cands, k);
        for _ in lines.len()..k {
            // no open line left: a receipt without one (as MutationPlan inserts do)
            self.insert_row("GrnDetails", today, 1);
        }
        for l in lines {
            let po = self.sv(x.det, l, "PurchaseOrder");
            let h = hdrs[&po];
            let sup = self.sv(x.hdr, h, "Supplier");
            let cur = self.sv(x.hdr, h, "Currency");
            let ordered = self.nv(x.det, l, "MOrderQty") / UNIT6;
            let got = self.nv(x.det, l, "MReceivedQty") / UNIT6;
            let qty = self.rng.gen_range(1..=(ordered - got).max(1));
            let line = self.nv(x.det, l, "Line");
            let stock = self.sv(x.det, l, "MStockCode");
            let wh = self.sv(x.det, l, "MWarehouse");
            let wh = self.p.warehouse(&wh);
            let price5 = self.nv(x.det, l, "MPrice");
            self.gen_grn(&sup, &po, line, &stock, wh, qty, price5, &cur, today);
            self.upd(
                day,
                x.det,
                l,
                "MReceivedQty",
                V::Dec((got + qty) as i128, 0),
            );
            self.upd(day, x.det, l, "MLastReceiptDat", dt(today));
            if got + qty >= ordered {
                self.upd(day, x.det, l, "MCompleteFlag", s("Y"));
                self.upd(day, x.det, l, "OrderLineStatus", s("9"));
            }
            if self.sv(x.hdr, h, "OrderStatus") == "1" {
                self.upd(day, x.hdr, h, "OrderStatus", s("4"));
            }
        }
    }
}
