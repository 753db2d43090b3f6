//! The reports of `sql/80_views` (AP aging, spend by supplier, stock by warehouse), as SQLite
//! queries over the demo's current-state tables, and an independent computation of their totals
//! from SYSPRO's own records to check them against.
//!
//! They are group reports: every line names its company, suppliers are joined within their
//! company (the same supplier code is another supplier in another company), and amounts are
//! summed per company and currency only — a ZAR and a GBP balance never add up to one number.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::render::{Align, TextTable, clip, count, money};

/// One line of `report_syspro__ap_aging`: open balances by days past due, in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgingLine {
    pub company_id: String,
    pub supplier_code: String,
    pub supplier_name: Option<String>,
    pub currency: String,
    /// current, 1–30, 31–60, 61–90, over 90 days past due
    pub buckets: [i128; 5],
    pub balance: i128,
    pub open_invoices: u64,
}

/// `report_syspro__ap_aging`, aged on `today` (the simulator's business date).
pub fn ap_aging(conn: &Connection, today: NaiveDate) -> rusqlite::Result<Vec<AgingLine>> {
    let mut stmt = conn.prepare(
        "with
        invoices as (select company_id, record from syspro__ap_invoice where not is_deleted),
        suppliers as (
            select company_id, record_key, record from syspro__ap_supplier where not is_deleted
        ),
        open_invoices as (
            select
                company_id,
                json_extract(record, '$.Supplier') as supplier_code,
                json_extract(record, '$.Currency') as currency_code,
                cast(round(json_extract(record, '$.MthInvBal1') * 100) as integer) as balance_cents,
                cast(julianday(?1) - julianday(substr(json_extract(record, '$.DueDate'), 1, 10)) as integer)
                    as days_past_due
            from invoices
            where cast(round(json_extract(record, '$.MthInvBal1') * 100) as integer) <> 0
        )
        select
            open_invoices.company_id,
            open_invoices.supplier_code,
            max(json_extract(suppliers.record, '$.SupplierName')),
            open_invoices.currency_code,
            sum(case when days_past_due <= 0 then balance_cents else 0 end),
            sum(case when days_past_due between 1 and 30 then balance_cents else 0 end),
            sum(case when days_past_due between 31 and 60 then balance_cents else 0 end),
            sum(case when days_past_due between 61 and 90 then balance_cents else 0 end),
            sum(case when days_past_due > 90 then balance_cents else 0 end),
            sum(balance_cents),
            count(*)
        from open_invoices
        left join suppliers
            on suppliers.company_id = open_invoices.company_id
            and suppliers.record_key = open_invoices.supplier_code
        group by open_invoices.company_id, open_invoices.supplier_code, open_invoices.currency_code
        order by open_invoices.company_id, open_invoices.currency_code, sum(balance_cents) desc",
    )?;
    let rows = stmt.query_map([today.format("%Y-%m-%d").to_string()], |r| {
        Ok(AgingLine {
            company_id: r.get(0)?,
            supplier_code: r.get(1)?,
            supplier_name: r.get(2)?,
            currency: r.get(3)?,
            buckets: [
                r.get::<_, i64>(4)? as i128,
                r.get::<_, i64>(5)? as i128,
                r.get::<_, i64>(6)? as i128,
                r.get::<_, i64>(7)? as i128,
                r.get::<_, i64>(8)? as i128,
            ],
            balance: r.get::<_, i64>(9)? as i128,
            open_invoices: r.get::<_, i64>(10)? as u64,
        })
    })?;
    rows.collect()
}

/// One line of `report_syspro__spend_by_supplier`: invoice values per invoice month, in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendLine {
    pub company_id: String,
    pub supplier_code: String,
    pub supplier_name: Option<String>,
    pub currency: String,
    /// `YYYY-MM`
    pub month: String,
    pub spend: i128,
    pub invoices: u64,
}

pub fn spend_by_supplier(conn: &Connection) -> rusqlite::Result<Vec<SpendLine>> {
    let mut stmt = conn.prepare(
        "with
        invoices as (select company_id, record from syspro__ap_invoice where not is_deleted),
        suppliers as (
            select company_id, record_key, record from syspro__ap_supplier where not is_deleted
        ),
        invoice_lines as (
            select
                company_id,
                json_extract(record, '$.Supplier') as supplier_code,
                json_extract(record, '$.Currency') as currency_code,
                cast(round(json_extract(record, '$.OrigInvValue') * 100) as integer) as invoice_cents,
                substr(json_extract(record, '$.InvoiceDate'), 1, 7) as invoice_month
            from invoices
        )
        select
            invoice_lines.company_id,
            invoice_lines.supplier_code,
            max(json_extract(suppliers.record, '$.SupplierName')),
            invoice_lines.currency_code,
            invoice_lines.invoice_month,
            sum(invoice_cents),
            count(*)
        from invoice_lines
        left join suppliers
            on suppliers.company_id = invoice_lines.company_id
            and suppliers.record_key = invoice_lines.supplier_code
        group by invoice_lines.company_id, invoice_lines.supplier_code,
            invoice_lines.currency_code, invoice_lines.invoice_month",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(SpendLine {
            company_id: r.get(0)?,
            supplier_code: r.get(1)?,
            supplier_name: r.get(2)?,
            currency: r.get(3)?,
            month: r.get(4)?,
            spend: r.get::<_, i64>(5)? as i128,
            invoices: r.get::<_, i64>(6)? as u64,
        })
    })?;
    rows.collect()
}

/// One line of `report_syspro__stock_by_warehouse`.
#[derive(Debug, Clone, PartialEq)]
pub struct StockLine {
    pub company_id: String,
    pub warehouse: String,
    pub stock_codes: u64,
    pub on_hand: f64,
    pub value: f64,
}

pub fn stock_by_warehouse(conn: &Connection) -> rusqlite::Result<Vec<StockLine>> {
    let mut stmt = conn.prepare(
        "with
        stock as (select company_id, record from syspro__inv_warehouse where not is_deleted),
        stock_lines as (
            select
                company_id,
                json_extract(record, '$.Warehouse') as warehouse_code,
                json_extract(record, '$.QtyOnHand') as on_hand_quantity,
                json_extract(record, '$.UnitCost') as unit_cost_amount
            from stock
        )
        select
            company_id,
            warehouse_code,
            count(*),
            sum(on_hand_quantity),
            sum(on_hand_quantity * unit_cost_amount)
        from stock_lines
        group by company_id, warehouse_code
        order by company_id, warehouse_code",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(StockLine {
            company_id: r.get(0)?,
            warehouse: r.get(1)?,
            stock_codes: r.get::<_, i64>(2)? as u64,
            on_hand: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
            value: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
        })
    })?;
    rows.collect()
}

/// One supplier's line in a per-currency block: label, measures, count.
type SupplierLine<const N: usize> = (String, [i128; N], u64);

/// Suppliers shown by name per company and currency; the rest are summed into one line.
const TOP_SUPPLIERS: usize = 3;

/// Rows for one company's amounts in one currency: the largest `TOP_SUPPLIERS` by the last
/// measure, the others summed, and the company's total in that currency. Each input is
/// (supplier label, measures, count). Returns that total.
fn currency_block<const N: usize>(
    t: &mut TextTable,
    company: &str,
    currency: &str,
    mut lines: Vec<SupplierLine<N>>,
) -> ([i128; N], u64) {
    lines.sort_by(|a, b| b.1[N - 1].cmp(&a.1[N - 1]).then(a.0.cmp(&b.0)));
    let add = |acc: &mut ([i128; N], u64), l: &SupplierLine<N>| {
        for i in 0..N {
            acc.0[i] += l.1[i];
        }
        acc.1 += l.2;
    };
    let row = |label: String, m: &[i128; N], n: u64| {
        let mut cells = vec![label, company.to_string(), currency.to_string()];
        cells.extend(m.iter().map(|v| money(*v)));
        cells.push(count(n));
        cells
    };
    let mut total = ([0i128; N], 0u64);
    let mut others = ([0i128; N], 0u64);
    for (i, l) in lines.iter().enumerate() {
        add(&mut total, l);
        if i < TOP_SUPPLIERS {
            t.row(row(clip(&l.0, 36), &l.1, l.2));
        } else {
            add(&mut others, l);
        }
    }
    if lines.len() > TOP_SUPPLIERS {
        t.row(row(
            format!("{} other suppliers", lines.len() - TOP_SUPPLIERS),
            &others.0,
            others.1,
        ));
    }
    t.row(row(
        format!("total {company} {currency}"),
        &total.0,
        total.1,
    ));
    total
}

/// The group AP aging: a block per company and currency (its largest suppliers and its total),
/// then each company's totals, one line per currency.
pub fn render_aging(lines: &[AgingLine], today: NaiveDate) -> String {
    // the per-supplier blocks and the per-company totals share their columns but the first
    let columns = [
        ("supplier", Align::Left),
        ("company", Align::Left),
        ("cur", Align::Left),
        ("current", Align::Right),
        ("1–30 days", Align::Right),
        ("31–60", Align::Right),
        ("61–90", Align::Right),
        ("over 90", Align::Right),
        ("balance", Align::Right),
        ("invoices", Align::Right),
    ];
    let mut t = TextTable::new(&columns);
    let mut blocks: BTreeMap<(&str, &str), Vec<SupplierLine<6>>> = BTreeMap::new();
    for l in lines {
        let [a, b, c, d, e] = l.buckets;
        blocks
            .entry((&l.company_id, &l.currency))
            .or_default()
            .push((
                l.supplier_name
                    .clone()
                    .unwrap_or_else(|| l.supplier_code.clone()),
                [a, b, c, d, e, l.balance],
                l.open_invoices,
            ));
    }
    let mut totals = TextTable::new(&columns[1..]);
    let mut last_company = None;
    for (i, ((company, cur), block)) in blocks.into_iter().enumerate() {
        if i > 0 {
            t.rule();
        }
        if last_company.is_some_and(|c| c != company) {
            totals.rule();
        }
        last_company = Some(company);
        let (measures, n) = currency_block(&mut t, company, cur, block);
        let mut cells = vec![company.to_string(), cur.to_string()];
        cells.extend(measures.iter().map(|v| money(*v)));
        cells.push(count(n));
        totals.row(cells);
    }
    format!(
        "Group AP aging on {today} (report_syspro__ap_aging): open balances per company in the invoice's currency by days past due,\nlargest {TOP_SUPPLIERS} suppliers per company and currency\n{}\nPer-company totals (one line per currency: amounts in different currencies are never added)\n{}",
        t.render(2),
        totals.render(2)
    )
}

pub fn render_spend(lines: &[SpendLine], today: NaiveDate) -> String {
    use chrono::Datelike;
    // the last three invoice months as columns, everything before as "earlier"
    let month = |back: u32| {
        let m0 = today.year() * 12 + today.month0() as i32 - back as i32;
        format!("{:04}-{:02}", m0.div_euclid(12), m0.rem_euclid(12) + 1)
    };
    let months = [month(2), month(1), month(0)];
    let mut by_supplier: BTreeMap<(String, String, String), SupplierLine<5>> = BTreeMap::new();
    for l in lines {
        let e = by_supplier
            .entry((
                l.company_id.clone(),
                l.currency.clone(),
                l.supplier_code.clone(),
            ))
            .or_insert_with(|| {
                (
                    l.supplier_name
                        .clone()
                        .unwrap_or_else(|| l.supplier_code.clone()),
                    [0; 5],
                    0,
                )
            });
        let slot = months
            .iter()
            .position(|m| *m == l.month)
            .map_or(0, |i| i + 1);
        e.1[slot] += l.spend;
        e.1[4] += l.spend;
        e.2 += l.invoices;
    }
    let mut blocks: BTreeMap<(String, String), Vec<SupplierLine<5>>> = BTreeMap::new();
    for ((company, cur, _), line) in by_supplier {
        blocks.entry((company, cur)).or_default().push(line);
    }
    let mut t = TextTable::new(&[
        ("supplier", Align::Left),
        ("company", Align::Left),
        ("cur", Align::Left),
        ("earlier", Align::Right),
        (&months[0], Align::Right),
        (&months[1], Align::Right),
        (&months[2], Align::Right),
        ("total", Align::Right),
        ("invoices", Align::Right),
    ]);
    for (i, ((company, cur), block)) in blocks.into_iter().enumerate() {
        if i > 0 {
            t.rule();
        }
        currency_block(&mut t, &company, &cur, block);
    }
    format!(
        "Spend by supplier (report_syspro__spend_by_supplier): original invoice values by invoice month,\nlargest {TOP_SUPPLIERS} suppliers per company and currency\n{}",
        t.render(2)
    )
}

/// Stock per company and warehouse, each company's value in its local currency
/// (`local_currency`: company id → currency) and totalled per company only.
pub fn render_stock(lines: &[StockLine], local_currency: &BTreeMap<String, String>) -> String {
    let mut t = TextTable::new(&[
        ("company", Align::Left),
        ("warehouse", Align::Left),
        ("stock codes", Align::Right),
        ("on hand", Align::Right),
        ("cur", Align::Left),
        ("value at unit cost", Align::Right),
    ]);
    let mut by_company: BTreeMap<&str, Vec<&StockLine>> = BTreeMap::new();
    for l in lines {
        by_company.entry(&l.company_id).or_default().push(l);
    }
    for (i, (company, lines)) in by_company.into_iter().enumerate() {
        if i > 0 {
            t.rule();
        }
        let cur = local_currency.get(company).cloned().unwrap_or_default();
        let mut total = (0u64, 0f64, 0f64);
        for l in lines {
            t.row(vec![
                company.to_string(),
                l.warehouse.clone(),
                count(l.stock_codes),
                quantity(l.on_hand),
                cur.clone(),
                money((l.value * 100.0).round() as i128),
            ]);
            total.0 += l.stock_codes;
            total.1 += l.on_hand;
            total.2 += l.value;
        }
        t.row(vec![
            format!("total {company}"),
            String::new(),
            count(total.0),
            quantity(total.1),
            cur,
            money((total.2 * 100.0).round() as i128),
        ]);
    }
    format!(
        "Stock by warehouse (report_syspro__stock_by_warehouse): quantity on hand and its value at unit cost,\nper company in its local currency\n{}",
        t.render(2)
    )
}

/// Record keys of a target table that exist in more than one company, and one of them shown
/// per company with a column of its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collisions {
    /// Current keys held by two or more companies.
    pub keys: u64,
    /// An example key, and per company (in id order) that column's value.
    pub example: Option<(String, Vec<(String, String)>)>,
}

/// The keys of `target` that several companies hold, each row its company's own: how the
/// store keeps colliding codes apart (rows keyed on company_id and record_key).
pub fn collisions(conn: &Connection, target: &str, column: &str) -> rusqlite::Result<Collisions> {
    let shared = format!(
        "select record_key from {target} where not is_deleted
         group by record_key having count(distinct company_id) > 1"
    );
    let keys: i64 = conn.query_row(&format!("select count(*) from ({shared})"), [], |r| {
        r.get(0)
    })?;
    let first: Option<String> = conn
        .query_row(&format!("{shared} order by record_key limit 1"), [], |r| {
            r.get(0)
        })
        .ok();
    let example = match first {
        None => None,
        Some(key) => {
            let mut stmt = conn.prepare(&format!(
                "select company_id, coalesce(json_extract(record, '$.' || ?2), '') from {target}
                 where record_key = ?1 and not is_deleted order by company_id"
            ))?;
            let rows = stmt.query_map([&key, column], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Some((key, rows.collect::<rusqlite::Result<_>>()?))
        }
    };
    Ok(Collisions {
        keys: keys as u64,
        example,
    })
}

/// "Same codes, different companies: …": a supplier code in each company, and how many keys
/// the companies share.
pub fn render_collisions(suppliers: &Collisions, invoice_keys: u64) -> String {
    let example = suppliers
        .example
        .as_ref()
        .map_or(String::new(), |(key, names)| {
            let each: Vec<String> = names
                .iter()
                .map(|(company, name)| format!("{company}: {name}"))
                .collect();
            format!(" supplier {key} is {};", each.join(" — "))
        });
    format!(
        "Same codes, different companies:{example} {} supplier and {} ApInvoice keys exist in more than one company,\neach a row of its own (keyed on company_id, record_key), joined only within its company.\n",
        count(suppliers.keys),
        count(invoice_keys)
    )
}

fn quantity(q: f64) -> String {
    let whole = q.trunc();
    let frac = ((q - whole).abs() * 100.0).round() as u64;
    if frac == 0 {
        count(whole.abs() as u64)
    } else {
        format!("{}.{frac:02}", count(whole.abs() as u64))
    }
}

/// An exact decimal from a record value (`1234.50`, `"1234.5"`, `7`) scaled to `scale` digits.
pub fn scaled(v: Option<&Value>, scale: u32) -> Option<i128> {
    let text = match v? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > scale as usize {
        return None;
    }
    let mut s = format!("{int}{frac}");
    s.extend(std::iter::repeat_n('0', scale as usize - frac.len()));
    let n: i128 = s.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// The reports' totals computed directly from SYSPRO's records, exactly.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Open AP balance in cents, per currency.
    pub ap_balance: BTreeMap<String, i128>,
    /// Invoice values in cents, per currency.
    pub spend: BTreeMap<String, i128>,
    /// Stock value, in units of 1e-11 (quantity scale 6 × cost scale 5).
    pub stock_value_e11: i128,
}

pub fn totals_from_syspro(
    invoices: &[Map<String, Value>],
    stock: &[Map<String, Value>],
) -> Option<Totals> {
    let mut t = Totals::default();
    for r in invoices {
        let cur = r.get("Currency")?.as_str()?.to_string();
        *t.ap_balance.entry(cur.clone()).or_default() += scaled(r.get("MthInvBal1"), 2)?;
        *t.spend.entry(cur).or_default() += scaled(r.get("OrigInvValue"), 2)?;
    }
    t.ap_balance.retain(|_, v| *v != 0);
    for r in stock {
        t.stock_value_e11 += scaled(r.get("QtyOnHand"), 6)? * scaled(r.get("UnitCost"), 5)?;
    }
    Some(t)
}

/// One company's totals as the reports show them.
pub fn totals_from_reports(
    company: &str,
    aging: &[AgingLine],
    spend: &[SpendLine],
    stock: &[StockLine],
) -> (BTreeMap<String, i128>, BTreeMap<String, i128>, f64) {
    let mut ap = BTreeMap::new();
    for l in aging.iter().filter(|l| l.company_id == company) {
        *ap.entry(l.currency.clone()).or_default() += l.balance;
    }
    ap.retain(|_, v: &mut i128| *v != 0);
    let mut sp = BTreeMap::new();
    for l in spend.iter().filter(|l| l.company_id == company) {
        *sp.entry(l.currency.clone()).or_default() += l.spend;
    }
    let stock_value = stock
        .iter()
        .filter(|l| l.company_id == company)
        .map(|l| l.value)
        .sum();
    (ap, sp, stock_value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_scale_exactly() {
        let v: Value = serde_json::from_str("12345678901.23").unwrap();
        assert_eq!(scaled(Some(&v), 2), Some(1234567890123));
        assert_eq!(scaled(Some(&json!("-1.5")), 2), Some(-150));
        assert_eq!(scaled(Some(&json!(7)), 5), Some(700000));
        assert_eq!(scaled(Some(&json!("1.234")), 2), None);
        assert_eq!(scaled(None, 2), None);
    }

    /// The same supplier code in two companies, in their own currencies: each invoice meets
    /// its own company's supplier, and no line or total adds ZAR to GBP.
    #[test]
    fn the_group_aging_keeps_companies_and_currencies_apart() {
        use super::super::store::{Control, Store};
        let control = |table: &str, keys: &[&str]| Control {
            table_name: table.into(),
            key_columns: keys.iter().map(|k| k.to_string()).collect(),
            watermark_column: None,
            overlap_days: 3,
        };
        let store = Store::open(
            &["EDU1".into(), "UK1".into()],
            vec![
                control("ApSupplier", &["Supplier"]),
                control("ApInvoice", &["Supplier", "Invoice"]),
            ],
        )
        .unwrap();
        let put = |target: &str, company: &str, key: &str, record: Value| {
            store
                .conn()
                .execute(
                    &format!(
                        "insert into {target} (company_id, record_key, record, record_hash, poll_id,
                            first_poll_id, fetched_at, loaded_at, first_loaded_at, is_deleted)
                         values (?1, ?2, ?3, '', 'p', 'p', '', '', '', 0)"
                    ),
                    rusqlite::params![company, key, record.to_string()],
                )
                .unwrap();
        };
        put(
            "syspro__ap_supplier",
            "EDU1",
            "ACME",
            json!({"SupplierName": "ACME Components (Pty) Ltd"}),
        );
        put(
            "syspro__ap_supplier",
            "UK1",
            "ACME",
            json!({"SupplierName": "Acme Fasteners (UK) Ltd"}),
        );
        let invoice = |cur: &str, bal: &str, due: &str| {
            json!({"Supplier": "ACME", "Currency": cur, "MthInvBal1": bal, "OrigInvValue": bal,
                   "DueDate": due, "InvoiceDate": "2026-11-01T00:00:00"})
        };
        put(
            "syspro__ap_invoice",
            "EDU1",
            "ACME|1",
            invoice("ZAR", "100.00", "2026-11-30T00:00:00"),
        );
        put(
            "syspro__ap_invoice",
            "EDU1",
            "ACME|2",
            invoice("ZAR", "50.50", "2026-10-01T00:00:00"),
        );
        // the same key in UK1: another invoice of another supplier, in pounds
        put(
            "syspro__ap_invoice",
            "UK1",
            "ACME|1",
            invoice("GBP", "7.25", "2026-11-30T00:00:00"),
        );
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let aging = ap_aging(store.conn(), today).unwrap();
        let lines: Vec<(&str, Option<&str>, &str, i128, u64)> = aging
            .iter()
            .map(|l| {
                (
                    l.company_id.as_str(),
                    l.supplier_name.as_deref(),
                    l.currency.as_str(),
                    l.balance,
                    l.open_invoices,
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                ("EDU1", Some("ACME Components (Pty) Ltd"), "ZAR", 15050, 2),
                ("UK1", Some("Acme Fasteners (UK) Ltd"), "GBP", 725, 1),
            ]
        );
        assert_eq!(aging[0].buckets, [10000, 0, 5050, 0, 0]);
        let shown = render_aging(&aging, today);
        for want in ["total EDU1 ZAR", "total UK1 GBP", "Per-company totals"] {
            assert!(shown.contains(want), "{want:?} in\n{shown}");
        }
        // one number per company and currency: 150.50 ZAR and 7.25 GBP, never 157.75
        assert!(!shown.contains("157.75"), "{shown}");
        let (ap, _, _) = totals_from_reports(
            "UK1",
            &aging,
            &spend_by_supplier(store.conn()).unwrap(),
            &[],
        );
        assert_eq!(ap, BTreeMap::from([("GBP".to_string(), 725)]));
        let shared = collisions(store.conn(), "syspro__ap_invoice", "Currency").unwrap();
        assert_eq!(shared.keys, 1);
        assert_eq!(
            shared.example,
            Some((
                "ACME|1".to_string(),
                vec![("EDU1".into(), "ZAR".into()), ("UK1".into(), "GBP".into())]
            ))
        );
    }
}
