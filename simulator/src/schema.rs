//! The 13 SYSPRO tables the simulator serves. Column names and SQL types
//! follow syspro.md §3 (from the [DJ] inspectdb dump and the [BB] T-SQL
//! procedures); where the doc gives no type, a plausible SYSPRO type is used
//! and marked "assumed".

use std::sync::OnceLock;

/// SQL Server type of a column, as the OData service would describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// Fixed-width `char(n)`: answers pad with spaces to `n`
    /// (syspro.md §3 notes and §5.8 [CONN]: "Character columns are fixed-width and space-padded").
    Char(u16),
    /// `varchar(n)`: not padded.
    VarChar(u16),
    /// `decimal(p,s)` -> `Edm.Decimal` with Precision/Scale.
    Dec(u8, u8),
    /// `int` -> `Edm.Int32`.
    Int,
    /// SQL `datetime` -> `Edm.DateTimeOffset` (syspro.md §1.3 / §5.4: UNCONFIRMED which Edm type;
    /// we pick DateTimeOffset and append `Z` without shifting).
    DateTime,
}

impl ColType {
    pub fn edm(self) -> &'static str {
        match self {
            ColType::Char(_) | ColType::VarChar(_) => "Edm.String",
            ColType::Dec(..) => "Edm.Decimal",
            ColType::Int => "Edm.Int32",
            ColType::DateTime => "Edm.DateTimeOffset",
        }
    }
    pub fn is_str(self) -> bool {
        matches!(self, ColType::Char(_) | ColType::VarChar(_))
    }
}

#[derive(Debug)]
pub struct Col {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub cols: Vec<Col>,
    /// Key column indices, in key order.
    pub key: Vec<usize>,
    /// Watermark (posting date) column index, if any.
    pub watermark: Option<usize>,
}

impl TableDef {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c.name == name)
    }
    pub fn ix(&self, name: &str) -> usize {
        self.col(name)
            .unwrap_or_else(|| panic!("{}: no column {name}", self.name))
    }
}

use ColType::*;

type Spec = (&'static str, ColType, bool);
const N: bool = true; // nullable
const R: bool = false; // required

const fn m(p: u8, s: u8) -> ColType {
    Dec(p, s)
}

/// Table specs: (name, key columns, watermark, columns). Order matters: it is
/// the `$metadata` property order and the order of `expected_records` keys.
#[allow(clippy::type_complexity)]
const SPECS: &[(&str, &[&str], Option<&str>, &[Spec])] = &[
    (
        "ApInvoice",
        &["Supplier", "Invoice"],
        Some("JournalDate"),
        &[
            ("Supplier", Char(15), R),
            ("Invoice", VarChar(20), R),
            ("InvoiceDate", DateTime, R),
            ("JournalDate", DateTime, R),
            ("DueDate", DateTime, R),
            ("DiscountDate", DateTime, N),
            ("InvoiceYear", m(4, 0), R),
            ("InvoiceMonth", m(2, 0), R),
            ("Journal", m(10, 0), R),
            ("Branch", Char(10), R),
            ("Reference", VarChar(30), N),
            ("OrigInvValue", m(14, 2), R),
            ("OrigDiscValue", m(14, 2), R),
            ("MthInvBal1", m(14, 2), R),
            ("MthInvBal2", m(14, 2), R),
            ("MthInvBal3", m(14, 2), R),
            ("InvoiceStatus", Char(1), R),
            ("Currency", Char(3), R),
            ("ExchangeRate", m(12, 6), R),
            ("MulDiv", Char(1), R),
            ("YearInvBalZero", m(4, 0), R),
            ("MonthInvBalZero", m(2, 0), R),
        ],
    ),
    (
        "ApInvoicePay",
        &["Supplier", "Invoice", "EntryNumber"],
        Some("JournalDate"),
        &[
            ("Supplier", Char(15), R),
            ("Invoice", VarChar(20), R),
            ("EntryNumber", m(10, 0), R),
            ("JournalDate", DateTime, R),
            ("TrnYear", m(4, 0), R),
            ("TrnMonth", m(2, 0), R),
            ("TrnType", Char(1), R),
            ("Journal", m(10, 0), R),
            ("PaymentReference", VarChar(50), N),
            ("TrnValue", m(14, 2), R),
            ("PostValue", m(14, 2), R),
            ("PostCurrency", Char(3), R),
            ("PostConvRate", m(12, 6), R),
            ("PaymentNumber", VarChar(15), N),
            ("SummaryEntryNumber", m(10, 0), R),
        ],
    ),
    (
        "ApSupplier",
        &["Supplier"],
        None,
        &[
            ("Supplier", Char(15), R),
            ("SupplierName", VarChar(50), R),
            ("SupShortName", VarChar(20), R),
            ("SupplierClass", Char(10), R),
            ("Branch", Char(10), R),
            ("Currency", Char(3), R),
            ("TermsCode", Char(2), R),
            ("OnHold", Char(1), R),
            ("TaxRegnNum", VarChar(20), N),
            ("CurrentBalance", m(14, 2), R),
            ("DateSuppAdded", DateTime, N),
            ("FirstPurchDate", DateTime, N),
            ("LastPurchDate", DateTime, N),
            ("LastChequeDate", DateTime, N),
        ],
    ),
    (
        "PorMasterHdr",
        &["PurchaseOrder"],
        Some("OrderEntryDate"),
        &[
            ("PurchaseOrder", VarChar(20), R),
            ("Supplier", Char(15), R),
            ("Warehouse", Char(10), R),
            ("OrderStatus", Char(1), R),
            ("ActiveFlag", Char(1), R),
            ("CancelledFlag", Char(1), R),
            ("Currency", Char(3), R),
            ("ExchangeRate", m(12, 6), R),
            ("Buyer", Char(20), R),
            ("OrderEntryDate", DateTime, R),
            ("OrderDueDate", DateTime, R),
            ("DatePoCompleted", DateTime, N),
            ("MemoDate", DateTime, N),
        ],
    ),
    (
        "PorMasterDetail",
        &["PurchaseOrder", "Line"],
        None,
        &[
            ("PurchaseOrder", VarChar(20), R),
            ("Line", m(4, 0), R),
            ("LineType", Char(1), R),
            ("MStockCode", VarChar(30), R),
            ("MStockDes", VarChar(50), R),
            ("MWarehouse", Char(10), R),
            ("MOrderQty", m(18, 6), R),
            ("MReceivedQty", m(18, 6), R),
            ("MPrice", m(15, 5), R),
            ("MForeignPrice", m(15, 5), R),
            ("MCompleteFlag", Char(1), R),
            ("MGlCode", VarChar(35), R),
            ("OrderLineStatus", Char(1), R),
            ("MOrigDueDate", DateTime, R),
            ("MLatestDueDate", DateTime, R),
            ("MLastReceiptDat", DateTime, N),
        ],
    ),
    (
        "GenMaster",
        &["Company", "GlCode"],
        None,
        &[
            ("Company", Char(4), R),
            ("GlCode", VarChar(35), R),
            ("Description", VarChar(50), R),
            ("AccountType", Char(1), R),
            ("GlGroup", VarChar(10), R),
            ("CurrentBalance", m(16, 2), R),
            ("PtdDrValue", m(16, 2), R),
            ("PtdCrValue", m(16, 2), R),
        ],
    ),
    (
        "GenHistory",
        &["Company", "GlCode", "GlYear"],
        None,
        &[
            ("Company", Char(4), R),
            ("GlCode", VarChar(35), R),
            ("GlYear", m(4, 0), R),
            ("BeginYearBalance", m(16, 2), R),
            ("ClosingBalPer1", m(16, 2), R),
            ("ClosingBalPer2", m(16, 2), R),
            ("ClosingBalPer3", m(16, 2), R),
            ("ClosingBalPer4", m(16, 2), R),
            ("ClosingBalPer5", m(16, 2), R),
            ("ClosingBalPer6", m(16, 2), R),
            ("ClosingBalPer7", m(16, 2), R),
            ("ClosingBalPer8", m(16, 2), R),
            ("ClosingBalPer9", m(16, 2), R),
            ("ClosingBalPer10", m(16, 2), R),
            ("ClosingBalPer11", m(16, 2), R),
            ("ClosingBalPer12", m(16, 2), R),
            ("ClosingBalPer13", m(16, 2), R),
            ("ClosingBalPer14", m(16, 2), R),
            ("ClosingBalPer15", m(16, 2), R),
        ],
    ),
    (
        "GenJournalDetail",
        &["GlYear", "GlPeriod", "Journal", "EntryNumber"],
        Some("EntryDate"),
        &[
            ("GlYear", m(4, 0), R),
            ("GlPeriod", m(2, 0), R),
            ("Journal", m(10, 0), R),
            ("EntryNumber", m(10, 0), R),
            ("Company", Char(4), R),
            ("GlCode", VarChar(35), R),
            ("EntryType", Char(1), R),
            ("EntryValue", m(16, 2), R),
            ("EntryDate", DateTime, R),
            ("TransactionDate", DateTime, R),
            ("DocumentDate", DateTime, N),
            ("Reference", VarChar(30), R),
            ("Comment", VarChar(100), N),
            ("EntryPosted", Char(1), R),
            ("CurrencyValue", m(16, 2), R),
            ("PostCurrency", Char(3), R),
            ("SubModJournal", m(10, 0), R),
            ("InterCompanyFlag", Char(1), R),
        ],
    ),
    (
        "InvMaster",
        &["StockCode"],
        None,
        &[
            ("StockCode", VarChar(30), R),
            ("Description", VarChar(50), R),
            ("LongDesc", VarChar(100), N),
            ("StockUom", Char(10), R),
            ("ProductClass", Char(20), R),
            ("Supplier", Char(15), R),
            ("MaterialCost", m(15, 5), R),
            ("LabourCost", m(15, 5), R),
            ("PartCategory", Char(1), R),
            // assumed type: the one Edm.Int32 column, so clients exercise that mapping
            ("LeadTime", Int, R),
            ("DateStkAdded", DateTime, R),
            ("SupercessionDate", DateTime, N),
        ],
    ),
    (
        "InvWarehouse",
        &["StockCode", "Warehouse"],
        None,
        &[
            ("StockCode", VarChar(30), R),
            ("Warehouse", Char(10), R),
            ("QtyOnHand", m(18, 6), R),
            ("QtyAllocated", m(18, 6), R),
            ("QtyOnOrder", m(18, 6), R),
            ("QtyInTransit", m(18, 6), R),
            ("UnitCost", m(15, 5), R),
            ("YtdQtySold", m(18, 6), R),
            ("DateWhAdded", DateTime, R),
            ("DateLastSale", DateTime, N),
            ("DateLastStockMove", DateTime, N),
            ("DateLastPurchase", DateTime, N),
        ],
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
        &[
            ("StockCode", VarChar(30), R),
            ("Warehouse", Char(10), R),
            ("TrnYear", m(4, 0), R),
            ("TrnMonth", m(2, 0), R),
            ("EntryDate", DateTime, R),
            // syspro.md §5.1 [DJ]: time of day kept separately as dec(8,0) HHMMSScc
            ("TrnTime", m(8, 0), R),
            ("MovementType", Char(1), R),
            ("TrnType", Char(1), R),
            ("TrnQty", m(18, 6), R),
            ("TrnValue", m(14, 2), R),
            ("UnitCost", m(15, 5), R),
            ("Reference", VarChar(30), N),
            ("Journal", m(10, 0), R),
            ("JournalEntry", m(10, 0), R),
            ("Supplier", Char(15), N),
            ("Customer", Char(15), N),
            ("SalesOrder", VarChar(20), N),
            ("Invoice", VarChar(20), N),
        ],
    ),
    (
        "GrnDetails",
        &["Supplier", "Grn", "GrnSource", "Journal", "JournalEntry"],
        Some("OrigReceiptDate"),
        &[
            ("Supplier", Char(15), R),
            ("Grn", VarChar(20), R),
            ("GrnSource", Char(1), R),
            ("Journal", m(10, 0), R),
            ("JournalEntry", m(10, 0), R),
            ("OrigReceiptDate", DateTime, R),
            ("GrnYear", m(4, 0), R),
            ("GrnMonth", m(2, 0), R),
            ("PurchaseOrder", VarChar(20), R),
            ("PurchaseOrderLin", m(4, 0), R),
            ("StockCode", VarChar(30), R),
            ("Warehouse", Char(10), R),
            ("QtyReceived", m(18, 6), R),
            ("OrigGrnValue", m(14, 2), R),
            // syspro.md §7: "MatchedValue changes when invoices are matched" without
            // OrigReceiptDate moving; SYSPRO keeps the matches in GrnMatching (MatchedValue,
            // MatchedQty, syspro.md §3). The stand-in carries the running totals on the GRN
            // line (assumed placement), 0 while unmatched.
            ("MatchedValue", m(14, 2), R),
            ("MatchedQty", m(18, 6), R),
            ("DebitRecGlCode", VarChar(35), R),
            ("PostCurrency", Char(3), R),
            ("ConvRate", m(12, 6), R),
        ],
    ),
    (
        "ArCustomer",
        &["Customer"],
        None,
        &[
            ("Customer", Char(15), R),
            ("Name", VarChar(50), R),
            ("ShortName", VarChar(20), R),
            ("CustomerClass", Char(10), R),
            ("Branch", Char(10), R),
            ("Salesperson", Char(20), R),
            ("Currency", Char(3), R),
            ("CreditLimit", m(12, 0), R),
            ("CreditStatus", Char(1), R),
            ("TermsCode", Char(2), R),
            ("DateCustAdded", DateTime, R),
            ("DateLastSale", DateTime, N),
            ("DateLastPay", DateTime, N),
        ],
    ),
];

pub const TABLE_NAMES: &[&str] = &[
    "ApInvoice",
    "ApInvoicePay",
    "ApSupplier",
    "PorMasterHdr",
    "PorMasterDetail",
    "GenMaster",
    "GenHistory",
    "GenJournalDetail",
    "InvMaster",
    "InvWarehouse",
    "InvMovements",
    "GrnDetails",
    "ArCustomer",
];

pub fn tables() -> &'static [TableDef] {
    static DEFS: OnceLock<Vec<TableDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        SPECS
            .iter()
            .map(|(name, key, wm, cols)| {
                let cols: Vec<Col> = cols
                    .iter()
                    .map(|&(name, ty, nullable)| Col { name, ty, nullable })
                    .collect();
                let pos = |n: &str| {
                    cols.iter()
                        .position(|c| c.name == n)
                        .unwrap_or_else(|| panic!("{name}: no column {n}"))
                };
                let key = key.iter().map(|k| pos(k)).collect();
                let watermark = wm.map(pos);
                TableDef {
                    name,
                    cols,
                    key,
                    watermark,
                }
            })
            .collect()
    })
}

pub fn table_index(name: &str) -> Option<usize> {
    tables().iter().position(|t| t.name == name)
}

pub fn def(name: &str) -> &'static TableDef {
    &tables()[table_index(name).unwrap_or_else(|| panic!("no table {name}"))]
}
