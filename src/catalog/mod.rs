//! The SYSPRO tables ml-connector knows: key columns, the watermark column that incremental pulls
//! filter on (or none, for masters read whole), and what each table holds. Users extend it in config.
//!
//! Keys and date columns follow the researched table notes (syspro.md §3): composite keys marked
//! there as UNCONFIRMED can be overridden per site with `[tables.<Name>] key_columns = [...]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub mod open_items;
pub use open_items::{Dependent, OpenItems};

/// The longest company id SYSPRO allows.
const MAX_COMPANY_ID_LEN: usize = 20;

/// A company id as SYSPRO spells it: 1–20 of `[A-Za-z0-9_]`, in any case.
pub fn is_company_id(id: &str) -> bool {
    (1..=MAX_COMPANY_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `UK1.ApInvoice`; the bare table name for company `""`. The one spelling of a qualified name:
/// a catalog table as one SYSPRO company has it.
pub fn qualified_name(company: &str, table: &str) -> String {
    if company.is_empty() {
        table.to_string()
    } else {
        format!("{company}.{table}")
    }
}

/// A user's addition to or override of a catalog table: a `[tables.<Name>]` block, part of
/// `config`'s model.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableOverride {
    #[serde(default, deserialize_with = "opt_names")]
    pub key_columns: Option<Vec<String>>,
    /// Empty string turns a watermarked table into a snapshot table.
    pub watermark_column: Option<String>,
    #[serde(default, deserialize_with = "opt_names")]
    pub select: Option<Vec<String>>,
    pub description: Option<String>,
    /// Types of non-text columns for e.net, whose XML carries none: `{ Col = "decimal(14,2)" }`,
    /// `"datetime"`, `"int"` or `"string"`.
    pub column_types: Option<BTreeMap<String, String>>,
    /// Columns reconciliation sums (money, quantities).
    #[serde(default, deserialize_with = "opt_names")]
    pub reconcile_measures: Option<Vec<String>>,
    /// Rows SYSPRO changes without moving the watermark, re-read every sync cycle:
    /// `"MthInvBal1 ne 0"`; an empty string turns the built-in filter off.
    pub open_items: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrText {
    List(Vec<String>),
    Text(String),
}

/// A list of names (`[tables.*]` columns, `[sync] tables`): a TOML array, or (as environment variables are text) `a, b, c`.
pub fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match ListOrText::deserialize(d)? {
        ListOrText::List(v) => v,
        ListOrText::Text(s) => s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
    })
}

fn opt_names<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    names(d).map(Some)
}

/// One table as the service pulls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDef {
    /// SYSPRO's table (OData entity set) name, in SYSPRO's spelling.
    pub name: String,
    pub key_columns: Vec<String>,
    /// Inclusive lower bound of incremental pulls; `None` means the table is read whole (snapshot).
    pub watermark_column: Option<String>,
    /// `$select` list; `None` reads every column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select: Option<Vec<String>>,
    pub description: String,
    /// Types of the columns that are not text, for transports whose answers are untyped text
    /// (e.net XML). Columns not listed are strings.
    #[serde(skip)]
    pub column_types: Vec<(String, ColumnType)>,
    /// Money and quantity columns that reconciliation sums.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reconcile_measures: Vec<String>,
    /// Sums are also split by this column's values (e.g. GL debit/credit `EntryType`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconcile_split: Option<String>,
    /// Rows SYSPRO changes without moving the watermark: re-read whole every sync cycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_items: Option<OpenItems>,
    /// Child tables whose new rows mean a row of this table changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refreshed_by: Vec<Dependent>,
}

/// A SYSPRO column type, as far as normalising a record needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// SQL `datetime`: ISO text without a zone.
    DateTime,
    /// SQL `decimal(p,s)`: an exact JSON number.
    Decimal { precision: u32, scale: u32 },
    /// SQL `int`.
    Int,
}

impl ColumnType {
    /// Parses `datetime`, `int` or `decimal(p,s)`.
    pub fn parse(text: &str) -> Result<ColumnType, String> {
        let t = text.trim().to_ascii_lowercase();
        let bad =
            || format!("column type {text:?} is not one of datetime, int, decimal(p,s), string");
        match t.as_str() {
            "datetime" | "date" => Ok(ColumnType::DateTime),
            "int" | "integer" => Ok(ColumnType::Int),
            _ => {
                let inner = t
                    .strip_prefix("decimal(")
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(bad)?;
                let (p, s) = inner.split_once(',').ok_or_else(bad)?;
                let precision: u32 = p.trim().parse().map_err(|_| bad())?;
                let scale: u32 = s.trim().parse().map_err(|_| bad())?;
                if precision == 0 || precision > 38 || scale > precision {
                    return Err(bad());
                }
                Ok(ColumnType::Decimal { precision, scale })
            }
        }
    }

    pub fn edm_type(self) -> &'static str {
        match self {
            ColumnType::DateTime => "Edm.DateTimeOffset",
            ColumnType::Decimal { .. } => "Edm.Decimal",
            ColumnType::Int => "Edm.Int32",
        }
    }
}

impl TableDef {
    pub fn column_type(&self, column: &str) -> Option<ColumnType> {
        self.column_types
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(column))
            .map(|(_, t)| *t)
    }
}

/// Non-text columns of the built-in tables, from the SQL types in syspro.md §3 ([DJ], [BB]):
/// `name:type` pairs; `d` is datetime, `p.s` a decimal, `i` an int. A column whose type no DDL
/// shows (`PaymentNumber`: a foreign key to the payment-run header) is left text: text loses
/// nothing if SYSPRO sends digits, a number would drop a zero-padded code's zeros.
const BUILT_IN_TYPES: &[(&str, &str)] = &[
    (
        "ApInvoice",
        "InvoiceDate:d JournalDate:d DueDate:d DiscountDate:d InvoiceYear:4.0 InvoiceMonth:2.0 Journal:10.0 OrigInvValue:14.2 OrigDiscValue:14.2 MthInvBal1:14.2 MthInvBal2:14.2 MthInvBal3:14.2 ExchangeRate:12.6 YearInvBalZero:4.0 MonthInvBalZero:2.0 EntryNumber:10.0 ConvRate:12.6",
    ),
    (
        "ApInvoicePay",
        "EntryNumber:10.0 JournalDate:d TrnYear:4.0 TrnMonth:2.0 Journal:10.0 TrnValue:14.2 PostValue:14.2 PostConvRate:12.6 SummaryEntryNumber:10.0",
    ),
    (
        "ApSupplier",
        "CurrentBalance:14.2 DateSuppAdded:d FirstPurchDate:d LastPurchDate:d LastChequeDate:d",
    ),
    (
        "PorMasterHdr",
        "ExchangeRate:12.6 OrderEntryDate:d OrderDueDate:d DatePoCompleted:d DateLastDocPrt:d MemoDate:d",
    ),
    (
        "PorMasterDetail",
        "Line:4.0 MOrderQty:18.6 MReceivedQty:18.6 MPrice:15.5 MForeignPrice:15.5 MOrigDueDate:d MLatestDueDate:d MLastReceiptDat:d",
    ),
    (
        "GenMaster",
        "CurrentBalance:16.2 PtdDrValue:16.2 PtdCrValue:16.2",
    ),
    (
        "GenHistory",
        "GlYear:4.0 BeginYearBalance:16.2 ClosingBalPer1:16.2 ClosingBalPer2:16.2 ClosingBalPer3:16.2 ClosingBalPer4:16.2 ClosingBalPer5:16.2 ClosingBalPer6:16.2 ClosingBalPer7:16.2 ClosingBalPer8:16.2 ClosingBalPer9:16.2 ClosingBalPer10:16.2 ClosingBalPer11:16.2 ClosingBalPer12:16.2 ClosingBalPer13:16.2 ClosingBalPer14:16.2 ClosingBalPer15:16.2",
    ),
    (
        "GenJournalDetail",
        "GlYear:4.0 GlPeriod:2.0 Journal:10.0 EntryNumber:10.0 EntryValue:16.2 EntryDate:d TransactionDate:d DocumentDate:d CurrencyValue:16.2 SubModJournal:10.0",
    ),
    (
        "InvMaster",
        "MaterialCost:15.5 LabourCost:15.5 LeadTime:i DateStkAdded:d SupercessionDate:d",
    ),
    (
        "InvWarehouse",
        "QtyOnHand:18.6 QtyAllocated:18.6 QtyOnOrder:18.6 QtyInTransit:18.6 UnitCost:15.5 YtdQtySold:18.6 DateWhAdded:d DateLastSale:d DateLastStockMove:d DateLastCostChange:d DateLastStockCnt:d DateLastPurchase:d",
    ),
    (
        "InvMovements",
        "TrnYear:4.0 TrnMonth:2.0 EntryDate:d TrnTime:8.0 TrnQty:18.6 TrnValue:14.2 UnitCost:15.5 Journal:10.0 JournalEntry:10.0",
    ),
    (
        "GrnDetails",
        "Journal:10.0 JournalEntry:10.0 OrigReceiptDate:d GrnYear:4.0 GrnMonth:2.0 PurchaseOrderLin:4.0 QtyReceived:18.6 OrigGrnValue:14.2 MatchedValue:14.2 MatchedQty:18.6 ConvRate:12.6",
    ),
    (
        "ArCustomer",
        "CreditLimit:12.0 DateCustAdded:d DateLastSale:d DateLastPay:d",
    ),
];

/// What reconciliation sums per table: the money and quantity columns finance checks at
/// month-end, and a column to split them by.
const BUILT_IN_MEASURES: &[(&str, &str, Option<&str>)] = &[
    ("ApInvoice", "OrigInvValue MthInvBal1", None),
    ("ApInvoicePay", "TrnValue", None),
    ("ApSupplier", "CurrentBalance", None),
    ("PorMasterHdr", "", None),
    ("PorMasterDetail", "MOrderQty MReceivedQty", None),
    ("GenMaster", "CurrentBalance", None),
    ("GenHistory", "BeginYearBalance", None),
    ("GenJournalDetail", "EntryValue", Some("EntryType")),
    ("InvMaster", "", None),
    ("InvWarehouse", "QtyOnHand QtyAllocated UnitCost", None),
    ("InvMovements", "TrnQty TrnValue", Some("MovementType")),
    ("GrnDetails", "QtyReceived OrigGrnValue", None),
    ("ArCustomer", "", None),
];

/// Open-items filters of the built-in tables: (table, filter, evidence). Every filter can be
/// replaced or turned off per site with `[tables.<Name>] open_items = "..."` (empty: off).
const BUILT_IN_OPEN_ITEMS: &[(&str, &str, &str)] = &[
    (
        "ApInvoice",
        "MthInvBal1 ne 0",
        "payments lower MthInvBal1 on invoices of any age (public DDL and report code of SYSPRO \
         databases); that a settled invoice holds exactly 0.00 is UNCONFIRMED",
    ),
    (
        "PorMasterHdr",
        "OrderStatus ne '9' and OrderStatus ne '*' and CancelledFlag ne 'Y'",
        "OrderStatus, CancelledFlag and DatePoCompleted change after OrderEntryDate (public DDL); \
         the codes '9' complete and '*' cancelled are UNCONFIRMED",
    ),
    (
        "GrnDetails",
        "MatchedValue eq 0",
        "MatchedValue changes when invoices are matched (public report code); the column's presence on \
         GrnDetails and 0 meaning unmatched are UNCONFIRMED; partly matched GRNs leave this set \
         and are caught by verify",
    ),
    (
        "GenJournalDetail",
        "EntryPosted ne 'Y'",
        "EntryPosted flips N to Y after EntryDate; unposted lines stay in the table (a public dbt \
         project over SYSPRO)",
    ),
];

/// Dependent refreshes of the built-in tables: (parent, child, parent=child key pairs, evidence).
const BUILT_IN_DEPENDENTS: &[(&str, &str, &str, &str)] = &[
    (
        "ApInvoice",
        "ApInvoicePay",
        "Supplier=Supplier Invoice=Invoice",
        "a payment row dated today means its invoice's balance changed",
    ),
    (
        "PorMasterHdr",
        "GrnDetails",
        "PurchaseOrder=PurchaseOrder",
        "a receipt against a purchase order may complete it",
    ),
];

fn built_in_types(table: &str) -> Vec<(String, ColumnType)> {
    let spec = BUILT_IN_TYPES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, s)| *s)
        .unwrap_or("");
    spec.split_whitespace()
        .map(|pair| {
            let (name, ty) = pair.split_once(':').expect("name:type");
            let ty = match ty {
                "d" => ColumnType::DateTime,
                "i" => ColumnType::Int,
                ps => {
                    let (p, s) = ps.split_once('.').expect("p.s");
                    ColumnType::Decimal {
                        precision: p.parse().expect("digits"),
                        scale: s.parse().expect("digits"),
                    }
                }
            };
            (name.to_string(), ty)
        })
        .collect()
}

impl TableDef {
    /// The columns every page is ordered by: watermark first, then the key, which makes the order
    /// total and so lets pages resume after the last row seen.
    pub fn order_columns(&self) -> Vec<&str> {
        self.watermark_column
            .iter()
            .map(String::as_str)
            .chain(
                self.key_columns
                    .iter()
                    .map(String::as_str)
                    .filter(|k| Some(*k) != self.watermark_column.as_deref()),
            )
            .collect()
    }
}

const BUILT_IN: &[(&str, &[&str], Option<&str>, &str)] = &[
    (
        "ApInvoice",
        &["Supplier", "Invoice"],
        Some("JournalDate"),
        "AP invoices: values, balances, due dates; polled by posting (journal) date",
    ),
    (
        "ApInvoicePay",
        &["Supplier", "Invoice", "EntryNumber"],
        Some("JournalDate"),
        "AP invoice payments and postings against invoices",
    ),
    (
        "ApSupplier",
        &["Supplier"],
        None,
        "Supplier master (no change date: read whole)",
    ),
    (
        "PorMasterHdr",
        &["PurchaseOrder"],
        Some("OrderEntryDate"),
        "Purchase order headers, polled by order entry date",
    ),
    (
        "PorMasterDetail",
        &["PurchaseOrder", "Line"],
        None,
        "Purchase order lines: quantities ordered and received (read whole)",
    ),
    (
        "GenMaster",
        &["Company", "GlCode"],
        None,
        "General ledger chart of accounts and balances (read whole)",
    ),
    (
        "GenHistory",
        &["Company", "GlCode", "GlYear"],
        None,
        "GL period closing balances per year (read whole; changes until periods close)",
    ),
    (
        "GenJournalDetail",
        &["GlYear", "GlPeriod", "Journal", "EntryNumber"],
        Some("EntryDate"),
        "GL journal lines (debits and credits), polled by entry date",
    ),
    (
        "InvMaster",
        &["StockCode"],
        None,
        "Inventory (stock code) master (read whole)",
    ),
    (
        "InvWarehouse",
        &["StockCode", "Warehouse"],
        None,
        "Stock quantities and costs per warehouse (read whole)",
    ),
    (
        "InvMovements",
        &[
            "StockCode",
            "Warehouse",
            "TrnYear",
            "TrnMonth",
            "EntryDate",
            "TrnTime",
        ],
        Some("EntryDate"),
        "Inventory movements (receipts, issues, transfers), polled by entry date",
    ),
    (
        "GrnDetails",
        &["Supplier", "Grn", "GrnSource", "Journal", "JournalEntry"],
        Some("OrigReceiptDate"),
        "Goods received notes, polled by original receipt date",
    ),
    (
        "ArCustomer",
        &["Customer"],
        None,
        "Customer master (read whole)",
    ),
];

/// The table catalog: built-in tables with the user's overrides and additions applied.
#[derive(Debug, Clone)]
pub struct Catalog {
    tables: BTreeMap<String, TableDef>,
}

/// Why a table name could not be resolved, with what the user can pick instead.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("unknown table {requested:?}; known tables: {}", known.join(", "))]
pub struct UnknownTable {
    pub requested: String,
    pub known: Vec<String>,
}

impl Catalog {
    pub fn built_in() -> Self {
        let tables = BUILT_IN
            .iter()
            .map(|(name, keys, wm, desc)| {
                let def = TableDef {
                    name: name.to_string(),
                    key_columns: keys.iter().map(|k| k.to_string()).collect(),
                    watermark_column: wm.map(str::to_string),
                    select: None,
                    description: desc.to_string(),
                    column_types: built_in_types(name),
                    reconcile_measures: BUILT_IN_MEASURES
                        .iter()
                        .find(|(t, _, _)| t == name)
                        .map(|(_, m, _)| m.split_whitespace().map(str::to_string).collect())
                        .unwrap_or_default(),
                    reconcile_split: BUILT_IN_MEASURES
                        .iter()
                        .find(|(t, _, _)| t == name)
                        .and_then(|(_, _, s)| s.map(str::to_string)),
                    open_items: BUILT_IN_OPEN_ITEMS.iter().find(|(t, _, _)| t == name).map(
                        |(_, f, e)| {
                            OpenItems::parse(f, e).expect("built-in open-items filters parse")
                        },
                    ),
                    refreshed_by: BUILT_IN_DEPENDENTS
                        .iter()
                        .filter(|(t, _, _, _)| t == name)
                        .map(|(_, child, keys, evidence)| Dependent {
                            child: child.to_string(),
                            keys: keys
                                .split_whitespace()
                                .map(|pair| {
                                    let (p, c) = pair.split_once('=').expect("parent=child");
                                    (p.to_string(), c.to_string())
                                })
                                .collect(),
                            evidence: evidence.to_string(),
                        })
                        .collect(),
                };
                (name.to_ascii_lowercase(), def)
            })
            .collect();
        Catalog { tables }
    }

    /// Applies `[tables.<Name>]` sections. A new table must say its key columns.
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<String, TableOverride>,
    ) -> Result<Self, String> {
        for (name, o) in overrides {
            let lookup = name.to_ascii_lowercase();
            let def = match self.tables.get_mut(&lookup) {
                Some(def) => def,
                None => {
                    let keys = o.key_columns.clone().ok_or_else(|| {
                        format!("tables.{name} is not a built-in table, so it needs key_columns = [\"...\"]")
                    })?;
                    check_identifier(name).map_err(|e| format!("tables.{name}: {e}"))?;
                    self.tables.insert(
                        lookup.clone(),
                        TableDef {
                            name: name.clone(),
                            key_columns: keys,
                            watermark_column: None,
                            select: None,
                            description: String::from("Added in configuration"),
                            column_types: Vec::new(),
                            reconcile_measures: Vec::new(),
                            reconcile_split: None,
                            open_items: None,
                            refreshed_by: Vec::new(),
                        },
                    );
                    self.tables.get_mut(&lookup).expect("just inserted")
                }
            };
            if let Some(keys) = &o.key_columns {
                def.key_columns = keys.clone();
            }
            if let Some(wm) = &o.watermark_column {
                def.watermark_column = if wm.trim().is_empty() {
                    None
                } else {
                    Some(wm.clone())
                };
            }
            if let Some(select) = &o.select {
                def.select = Some(select.clone());
            }
            if let Some(d) = &o.description {
                def.description = d.clone();
            }
            if let Some(text) = &o.open_items {
                def.open_items = if text.trim().is_empty() {
                    None
                } else {
                    Some(
                        OpenItems::parse(text, "configured for this site")
                            .map_err(|e| format!("tables.{name}.{e}"))?,
                    )
                };
            }
            if let Some(m) = &o.reconcile_measures {
                def.reconcile_measures = m.clone();
            }
            for col in def.reconcile_measures.iter() {
                check_identifier(col)
                    .map_err(|e| format!("tables.{name}.reconcile_measures: {e}"))?;
            }
            for (column, ty) in o.column_types.iter().flatten() {
                check_identifier(column).map_err(|e| format!("tables.{name}.column_types: {e}"))?;
                def.column_types
                    .retain(|(c, _)| !c.eq_ignore_ascii_case(column));
                if !ty.trim().eq_ignore_ascii_case("string") {
                    let parsed = ColumnType::parse(ty)
                        .map_err(|e| format!("tables.{name}.column_types.{column}: {e}"))?;
                    def.column_types.push((column.clone(), parsed));
                }
            }
            for col in def
                .key_columns
                .iter()
                .chain(def.watermark_column.iter())
                .chain(def.select.iter().flatten())
            {
                check_identifier(col).map_err(|e| format!("tables.{name}: {e}"))?;
            }
            if let Some(select) = &def.select {
                let open_columns = def.open_items.iter().flat_map(|o| o.columns());
                for needed in def
                    .key_columns
                    .iter()
                    .map(String::as_str)
                    .chain(def.watermark_column.as_deref())
                    .chain(open_columns)
                {
                    if !select.iter().any(|c| c == needed) {
                        return Err(format!(
                            "tables.{name}.select leaves out {needed:?}, which pulls need (key, watermark and open_items columns)"
                        ));
                    }
                }
            }
        }
        Ok(self)
    }

    /// Case-insensitive lookup, as CONTRACT.md §3 promises (`apinvoice` finds `ApInvoice`).
    pub fn get(&self, name: &str) -> Result<&TableDef, UnknownTable> {
        self.tables
            .get(&name.trim().to_ascii_lowercase())
            .ok_or_else(|| UnknownTable {
                requested: name.to_string(),
                known: self.tables.values().map(|t| t.name.clone()).collect(),
            })
    }

    pub fn tables(&self) -> impl Iterator<Item = &TableDef> {
        self.tables.values()
    }
}

/// A plain decimal: optional sign, digits, optional fraction, optional exponent. Numbers in
/// open-items filters and in OData literals are checked by it.
pub fn is_plain_number(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exp) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    digits(int)
        && frac.is_none_or(digits)
        && exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// Column and table names end up inside OData URLs and e.net XML: only plain identifiers pass.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid SYSPRO column or table name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_the_thirteen_tables() {
        let c = Catalog::built_in();
        assert_eq!(c.tables().count(), 13);
        assert_eq!(c.get("apinvoice").unwrap().name, "ApInvoice");
        assert_eq!(
            c.get("ApInvoice").unwrap().order_columns(),
            ["JournalDate", "Supplier", "Invoice"]
        );
        assert_eq!(
            c.get("InvMovements").unwrap().order_columns()[0],
            "EntryDate"
        );
        assert_eq!(c.get("InvMovements").unwrap().order_columns().len(), 6);
    }

    #[test]
    fn an_unknown_table_lists_the_known_ones() {
        let err = Catalog::built_in().get("ApInvoices").unwrap_err();
        assert!(err.to_string().contains("ApInvoicePay"));
    }

    #[test]
    fn overrides_change_and_add_tables() {
        let mut o = BTreeMap::new();
        o.insert(
            "ApSupplier".to_string(),
            TableOverride {
                watermark_column: Some("DateSuppAdded".into()),
                ..Default::default()
            },
        );
        o.insert(
            "SorMaster".to_string(),
            TableOverride {
                key_columns: Some(vec!["SalesOrder".into()]),
                ..Default::default()
            },
        );
        let c = Catalog::built_in().with_overrides(&o).unwrap();
        assert_eq!(
            c.get("apsupplier").unwrap().watermark_column.as_deref(),
            Some("DateSuppAdded")
        );
        assert_eq!(c.get("SORMASTER").unwrap().key_columns, ["SalesOrder"]);
    }

    #[test]
    fn column_types_parse_and_override() {
        assert_eq!(
            ColumnType::parse("decimal(14, 2)").unwrap(),
            ColumnType::Decimal {
                precision: 14,
                scale: 2
            }
        );
        assert!(ColumnType::parse("decimal(2,14)").is_err());
        assert!(ColumnType::parse("money").is_err());
        let c = Catalog::built_in();
        assert_eq!(
            c.get("ApInvoice").unwrap().column_type("journaldate"),
            Some(ColumnType::DateTime)
        );
        assert_eq!(c.get("ApInvoice").unwrap().column_type("Supplier"), None);
        let mut o = BTreeMap::new();
        let mut types = BTreeMap::new();
        types.insert("Branch".to_string(), "int".to_string());
        types.insert("Journal".to_string(), "string".to_string());
        o.insert(
            "ApInvoice".to_string(),
            TableOverride {
                column_types: Some(types),
                ..Default::default()
            },
        );
        let c = c.with_overrides(&o).unwrap();
        assert_eq!(
            c.get("ApInvoice").unwrap().column_type("Branch"),
            Some(ColumnType::Int)
        );
        assert_eq!(c.get("ApInvoice").unwrap().column_type("Journal"), None);
    }

    #[test]
    fn an_added_table_without_keys_is_refused() {
        let mut o = BTreeMap::new();
        o.insert("SorMaster".to_string(), TableOverride::default());
        assert!(
            Catalog::built_in()
                .with_overrides(&o)
                .unwrap_err()
                .contains("key_columns")
        );
    }

    #[test]
    fn injection_in_column_names_is_refused() {
        let mut o = BTreeMap::new();
        o.insert(
            "ApInvoice".to_string(),
            TableOverride {
                key_columns: Some(vec!["Supplier eq 'x' or 1 eq 1".into()]),
                ..Default::default()
            },
        );
        assert!(Catalog::built_in().with_overrides(&o).is_err());
    }
}
