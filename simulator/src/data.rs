//! Deterministic data for an electronics distributor with three warehouses
//! (Johannesburg, Cape Town, Durban), plus mutations between syncs.

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::schema::{self, ColType};
use crate::store::{NULL, Table, V, date_to_secs};

const ZA_WAREHOUSES: &[&str] = &["JHB", "CPT", "DBN"];
const BRANCHES: &[&str] = &["10", "20", "30"];
/// Days of history generated before the business date.
const HISTORY_DAYS: u64 = 183;

type Row = Vec<V>;

mod day;
pub use day::BusinessDayPlan;

/// What to change between two syncs. All counts are per selected table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MutationPlan {
    /// New rows whose watermark is the current business date.
    pub inserts: usize,
    /// Changes to non-key, non-watermark columns of rows whose watermark is within
    /// `backdate_max_days` of the business date (any row for snapshot tables).
    pub updates: usize,
    /// New rows whose watermark is 1..=backdate_max_days days before the business date
    /// (tables with a watermark only).
    pub backdated: usize,
    /// Hard deletes of random rows.
    pub deletes: usize,
    pub backdate_max_days: u32,
    /// Table names; `None` = all 13 tables.
    pub tables: Option<Vec<String>>,
}

/// Keys touched, per table, in the normalised form of `expected_records`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableMutations {
    pub inserted: Vec<serde_json::Map<String, serde_json::Value>>,
    pub updated: Vec<serde_json::Map<String, serde_json::Value>>,
    pub deleted: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MutationReport {
    pub business_date: Option<NaiveDate>,
    pub tables: BTreeMap<String, TableMutations>,
    /// Table names in the plan that do not exist (ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_tables: Vec<String>,
}

pub(crate) struct State {
    pub date: NaiveDate,
    pub tables: Vec<Table>,
    rng: StdRng,
    /// A second stream for choices added after the first data set (payment history,
    /// posting state, GRN matching), so the rows the main stream draws stay as they were.
    aux: StdRng,
    company: String,
    /// The company's names, warehouses and currency.
    pub(crate) p: &'static ProfileData,
    /// (Supplier, Invoice) keys of the first company reused by this one (every tenth
    /// invoice of the history), so full ApInvoice keys collide across companies too.
    shared_invoices: Vec<(String, String)>,
    /// The next invoice generated takes this key: (supplier, currency, invoice).
    plant: Option<(String, String, String)>,
    /// The shared keys: a number generated later never takes one of them again.
    reserved_invoices: HashSet<(String, String)>,
    seq: u64,
    mov_keys: HashSet<(String, &'static str, i64, i64)>,
    iw_keys: HashSet<(String, &'static str)>,
}

const ZA_SUPPLIERS: &[(&str, &str, &str)] = &[
    // (code prefix, name, currency); non-ASCII names on purpose (e.net is Windows-1252, syspro.md §2.3)
    ("ACME", "ACME Components (Pty) Ltd", "ZAR"),
    ("MUL", "Müller Electronics GmbH", "EUR"),
    ("SOC", "Société Française de Composants", "EUR"),
    ("AST", "Åström Kretskort AB", "EUR"),
    ("PEN", "Electrónica Peña S.L.", "EUR"),
    ("BRU", "Brückner Halbleiter KG", "EUR"),
    ("ARR", "Arrowhead Semiconductors Inc", "USD"),
    ("DIG", "Digital Parts Direct LLC", "USD"),
    ("MOU", "Mountain Passives Corp", "USD"),
    ("AVN", "Avnet Connect Ltd", "GBP"),
    ("RSC", "RS Components SA (Pty) Ltd", "ZAR"),
    ("COM", "Communica Wholesale", "ZAR"),
    ("MIC", "Mica Electronic Supplies", "ZAR"),
    ("KAR", "Karoo Cable & Wire", "ZAR"),
    ("TAB", "Table Bay Power Products", "ZAR"),
    ("HIG", "Highveld Enclosures", "ZAR"),
    ("ZUL", "Zululand Transformers", "ZAR"),
    ("NAT", "Natal Connectors (Pty) Ltd", "ZAR"),
    ("SHE", "Shenzhen Bright LED Co", "USD"),
    ("TAI", "Taipei Precision Crystals", "USD"),
];

const ZA_STOCK: &[(&str, &str, &str, &str, i64)] = &[
    // (prefix, description, uom, product class, base cost in cents)
    ("RES", "Resistor 10k 0603 1%", "EA", "PASSIVE", 12),
    ("CAP", "Capacitor 100nF 0805 X7R", "EA", "PASSIVE", 9),
    ("ELC", "Electrolytic 470uF 35V", "EA", "PASSIVE", 185),
    ("IND", "Inductor 10uH 3A shielded", "EA", "PASSIVE", 420),
    (
        "MCU",
        "Microcontroller ARM Cortex-M4 LQFP64",
        "EA",
        "SEMI",
        8950,
    ),
    ("REG", "LDO regulator 3.3V 1A SOT-223", "EA", "SEMI", 640),
    ("MOS", "MOSFET N-ch 60V 30A TO-220", "EA", "SEMI", 1120),
    ("LED", "LED 5mm warm white", "EA", "OPTO", 75),
    ("DSP", "LCD display 16x2 backlit", "EA", "OPTO", 6890),
    (
        "CON",
        "Connector header 2x20 2.54mm",
        "EA",
        "ELECTROMECH",
        530,
    ),
    ("REL", "Relay 12V SPDT 10A", "EA", "ELECTROMECH", 1890),
    ("CBL", "Cable USB-C to USB-A 1m", "EA", "CABLE", 3450),
    (
        "WIR",
        "Hook-up wire 0.5mm² 100m reel",
        "REEL",
        "CABLE",
        21500,
    ),
    ("PSU", "Power supply 24V 5A DIN rail", "EA", "POWER", 89900),
    ("BAT", "Battery Li-ion 18650 3000mAh", "EA", "POWER", 9900),
    (
        "ENC",
        "Enclosure ABS IP65 200x120",
        "EA",
        "ENCLOSURE",
        15600,
    ),
    ("FUS", "Fuse 5x20 2A slow-blow", "BOX", "PROTECTION", 2300),
    (
        "SOL",
        "Solder wire Sn99 0.8mm 500g",
        "REEL",
        "CONSUMABLE",
        45900,
    ),
];

const ZA_GL: &[(&str, &str, &str, &str)] = &[
    // (GlCode, description, AccountType, GlGroup)
    ("1000-000-10", "Bank - Standard Bank current", "A", "BANK"),
    ("1000-000-20", "Bank - FNB call account", "A", "BANK"),
    ("1100-000-00", "Accounts receivable control", "A", "DEBTORS"),
    ("1200-000-10", "Inventory - Johannesburg", "A", "STOCK"),
    ("1200-000-20", "Inventory - Cape Town", "A", "STOCK"),
    ("1200-000-30", "Inventory - Durban", "A", "STOCK"),
    ("1300-000-00", "GRN suspense", "A", "STOCK"),
    ("1400-000-00", "VAT input", "A", "TAX"),
    ("1500-000-00", "Prepayments", "A", "OTHER"),
    ("1600-000-00", "Fixed assets - vehicles", "A", "FIXED"),
    ("2000-000-00", "Accounts payable control", "L", "CREDITORS"),
    ("2100-000-00", "VAT output", "L", "TAX"),
    ("2200-000-00", "Accrued expenses", "L", "ACCRUALS"),
    ("2300-000-00", "Loan - Nedbank", "L", "LOANS"),
    ("3000-000-00", "Share capital", "C", "EQUITY"),
    ("3100-000-00", "Retained earnings", "C", "EQUITY"),
    ("4000-000-10", "Sales - Johannesburg", "R", "SALES"),
    ("4000-000-20", "Sales - Cape Town", "R", "SALES"),
    ("4000-000-30", "Sales - Durban", "R", "SALES"),
    ("4100-000-00", "Sales returns", "R", "SALES"),
    ("5000-000-00", "Cost of sales", "E", "COS"),
    ("5100-000-00", "Freight inwards", "E", "COS"),
    ("6000-000-00", "Salaries and wages", "E", "OPEX"),
    ("6100-000-00", "Rent - Midrand warehouse", "E", "OPEX"),
    ("6200-000-00", "Electricity and water", "E", "OPEX"),
    ("6300-000-00", "Telephone and internet", "E", "OPEX"),
    ("6400-000-00", "Motor vehicle expenses", "E", "OPEX"),
    ("6500-000-00", "Bank charges", "E", "OPEX"),
    ("6600-000-00", "Exchange differences", "E", "OPEX"),
    ("6700-000-00", "Audit fees", "E", "OPEX"),
];

const ZA_CUSTOMER_WORDS: (&[&str], &[&str]) = (
    &[
        "Cape",
        "Highveld",
        "Durban",
        "Sandton",
        "Karoo",
        "Limpopo",
        "Café",
        "Protea",
        "Umhlanga",
        "Bloem",
        "Garden Route",
        "Vaal",
        "Zambezi",
        "Kgalagadi",
        "Pietermaritzburg",
        "Élan",
    ],
    &[
        "Electrical Supplies",
        "Solar (Pty) Ltd",
        "Radio & TV",
        "Automation cc",
        "Security Systems",
        "Électronique",
        "Mining Services",
        "Robotics Club",
        "Audio Visual",
        "Farm Irrigation",
    ],
);

/// Exchange rates of the South African company (ZAR per unit, scale 6).
const ZA_RATES: &[(&str, i128)] = &[
    ("USD", 18_245_300),
    ("EUR", 19_874_125),
    ("GBP", 23_120_450),
];

// A second company of the group, in the UK. The prefixes (so the supplier and stock codes) are
// the South African ones on purpose: in a group the same code often means different things
// in different companies (issue #16).
const UK_SUPPLIERS: &[(&str, &str, &str)] = &[
    ("ACME", "Acme Fasteners (UK) Ltd", "GBP"),
    ("MUL", "Mullard Passive Devices Ltd", "GBP"),
    ("SOC", "Société Générale d'Électronique SA", "EUR"),
    ("AST", "Aston Cable Assemblies Ltd", "GBP"),
    ("PEN", "Pennine Power Supplies Ltd", "GBP"),
    ("BRU", "Brunel Test & Measurement", "GBP"),
    ("ARR", "Arran Optoelectronics Ltd", "GBP"),
    ("DIG", "Digitronic Europe BV", "EUR"),
    ("MOU", "Moulton Electronics Inc", "USD"),
    ("AVN", "Avonside Enclosures Ltd", "GBP"),
    ("RSC", "Redshaw Semiconductor Co", "GBP"),
    ("COM", "Comtek Components GmbH", "EUR"),
    ("MIC", "Micron Distribution Inc", "USD"),
    ("KAR", "Kårlsson Relä AB", "EUR"),
    ("TAB", "Tabor Crystal Oscillators", "USD"),
    ("HIG", "Highland Wire & Cable", "GBP"),
    ("ZUL", "Züllig Präzisionsteile AG", "EUR"),
    ("NAT", "National Connector Corp", "USD"),
    ("SHE", "Sheffield Solder Supplies", "GBP"),
    ("TAI", "Tainan Display Technology", "USD"),
];

const UK_STOCK: &[(&str, &str, &str, &str, i64)] = &[
    // (prefix, description, uom, product class, base cost in pence)
    ("RES", "Resistor 4k7 0402 5%", "EA", "PASSIVE", 3),
    ("CAP", "Capacitor 10uF 1206 X5R", "EA", "PASSIVE", 11),
    ("ELC", "Electrolytic 1000uF 16V", "EA", "PASSIVE", 22),
    ("IND", "Common-mode choke 2x47mH", "EA", "PASSIVE", 95),
    ("MCU", "Microcontroller RISC-V QFN32", "EA", "SEMI", 310),
    ("REG", "Buck regulator 5V 3A module", "EA", "SEMI", 480),
    ("MOS", "MOSFET P-ch 30V SOT-23", "EA", "SEMI", 18),
    ("LED", "LED 3mm red diffused", "EA", "OPTO", 2),
    ("DSP", "OLED display 128x64 I2C", "EA", "OPTO", 640),
    (
        "CON",
        "Terminal block 3-way 5.08mm",
        "EA",
        "ELECTROMECH",
        35,
    ),
    (
        "REL",
        "Solid-state relay 240V 25A",
        "EA",
        "ELECTROMECH",
        1150,
    ),
    ("CBL", "Cable Cat6 patch 2m", "EA", "CABLE", 180),
    ("WIR", "Twin-and-earth 2.5mm² 50m", "REEL", "CABLE", 4200),
    ("PSU", "Power supply 12V 2A plug-top", "EA", "POWER", 890),
    ("BAT", "Battery AA alkaline pack of 4", "PACK", "POWER", 210),
    (
        "ENC",
        "Enclosure die-cast aluminium 120x80",
        "EA",
        "ENCLOSURE",
        1350,
    ),
    ("FUS", "Fuse 13A BS1362 box of 10", "BOX", "PROTECTION", 260),
    ("SOL", "Flux pen no-clean 10ml", "EA", "CONSUMABLE", 590),
];

/// The group's chart of accounts: the South African codes, British descriptions.
const UK_GL: &[(&str, &str, &str, &str)] = &[
    ("1000-000-10", "Bank - Barclays current", "A", "BANK"),
    ("1000-000-20", "Bank - HSBC deposit", "A", "BANK"),
    ("1100-000-00", "Trade debtors control", "A", "DEBTORS"),
    ("1200-000-10", "Stock - London", "A", "STOCK"),
    ("1200-000-20", "Stock - Manchester", "A", "STOCK"),
    ("1200-000-30", "Stock - Glasgow", "A", "STOCK"),
    ("1300-000-00", "Goods received not invoiced", "A", "STOCK"),
    ("1400-000-00", "VAT input", "A", "TAX"),
    ("1500-000-00", "Prepayments", "A", "OTHER"),
    ("1600-000-00", "Fixed assets - vans", "A", "FIXED"),
    ("2000-000-00", "Trade creditors control", "L", "CREDITORS"),
    ("2100-000-00", "VAT output", "L", "TAX"),
    ("2200-000-00", "Accruals", "L", "ACCRUALS"),
    ("2300-000-00", "Loan - Lloyds", "L", "LOANS"),
    ("3000-000-00", "Called-up share capital", "C", "EQUITY"),
    ("3100-000-00", "Profit and loss reserve", "C", "EQUITY"),
    ("4000-000-10", "Sales - London", "R", "SALES"),
    ("4000-000-20", "Sales - Manchester", "R", "SALES"),
    ("4000-000-30", "Sales - Glasgow", "R", "SALES"),
    ("4100-000-00", "Sales returns", "R", "SALES"),
    ("5000-000-00", "Cost of sales", "E", "COS"),
    ("5100-000-00", "Carriage inwards", "E", "COS"),
    ("6000-000-00", "Wages and salaries", "E", "OPEX"),
    ("6100-000-00", "Rent - Trafford Park unit", "E", "OPEX"),
    ("6200-000-00", "Light and heat", "E", "OPEX"),
    ("6300-000-00", "Telephone and broadband", "E", "OPEX"),
    ("6400-000-00", "Motor expenses", "E", "OPEX"),
    ("6500-000-00", "Bank charges", "E", "OPEX"),
    ("6600-000-00", "Exchange differences", "E", "OPEX"),
    ("6700-000-00", "Audit and accountancy", "E", "OPEX"),
];

const UK_CUSTOMER_WORDS: (&[&str], &[&str]) = (
    &[
        "Thames", "Pennine", "Mersey", "Cotswold", "Clyde", "Severn", "Fenland", "Tyne",
        "Chiltern", "Solent", "Humber", "Brontë",
    ],
    &[
        "Electrical Wholesale",
        "Solar Ltd",
        "Audio & Hi-Fi",
        "Automation Ltd",
        "Security Systems",
        "Controls plc",
        "Marine Services",
        "AV Hire",
    ],
);

/// GBP per unit, scale 6.
const UK_RATES: &[(&str, i128)] = &[("USD", 789_120), ("EUR", 859_580), ("ZAR", 43_251)];

/// The data of a company: its master-data names, warehouses and local currency. Codes
/// (supplier, customer, stock, GL, document numbers) follow the same numbering in every
/// profile, so they collide across companies while meaning different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyProfile {
    /// The electronics distributor in South Africa (ZAR; warehouses JHB, CPT, DBN).
    #[default]
    Za,
    /// Its UK sister company (GBP; warehouses LON, MAN, GLA).
    Uk,
}

pub(crate) struct ProfileData {
    pub currency: &'static str,
    pub company_name: &'static str,
    pub warehouses: &'static [&'static str],
    suppliers: &'static [(&'static str, &'static str, &'static str)],
    stock: &'static [(&'static str, &'static str, &'static str, &'static str, i64)],
    gl: &'static [(&'static str, &'static str, &'static str, &'static str)],
    customer_words: (&'static [&'static str], &'static [&'static str]),
    rates: &'static [(&'static str, i128)],
}

static ZA: ProfileData = ProfileData {
    currency: "ZAR",
    company_name: "Electronic Distributors (Pty) Ltd",
    warehouses: ZA_WAREHOUSES,
    suppliers: ZA_SUPPLIERS,
    stock: ZA_STOCK,
    gl: ZA_GL,
    customer_words: ZA_CUSTOMER_WORDS,
    rates: ZA_RATES,
};

static UK: ProfileData = ProfileData {
    currency: "GBP",
    company_name: "Electronic Distributors (UK) Ltd",
    warehouses: &["LON", "MAN", "GLA"],
    suppliers: UK_SUPPLIERS,
    stock: UK_STOCK,
    gl: UK_GL,
    customer_words: UK_CUSTOMER_WORDS,
    rates: UK_RATES,
};

impl CompanyProfile {
    pub(crate) fn data(self) -> &'static ProfileData {
        match self {
            CompanyProfile::Za => &ZA,
            CompanyProfile::Uk => &UK,
        }
    }
    /// The local currency of the company (customers, GL, the rate 1.000000).
    pub fn currency(self) -> &'static str {
        self.data().currency
    }
    /// The company name shown by e.net `GetLogonProfile`.
    pub fn company_name(self) -> &'static str {
        self.data().company_name
    }
}

impl ProfileData {
    /// Local currency per unit of `cur`, scale 6.
    /// A warehouse of this company by code (the first one if unknown).
    pub(crate) fn warehouse(&self, code: &str) -> &'static str {
        self.warehouses
            .iter()
            .copied()
            .find(|w| *w == code)
            .unwrap_or(self.warehouses[0])
    }

    fn rate(&self, cur: &str) -> i128 {
        self.rates
            .iter()
            .find(|r| r.0 == cur)
            .map(|r| r.1)
            .unwrap_or(1_000_000)
    }
}

fn dt(d: NaiveDate) -> V {
    V::Dt(date_to_secs(d))
}
fn int(v: i64) -> V {
    V::Dec(v as i128, 0)
}
fn cents(v: i64) -> V {
    V::Dec(v as i128, 2)
}
fn s(v: impl Into<String>) -> V {
    V::Str(v.into())
}
fn opt<T>(cond: bool, v: T) -> Option<T> {
    if cond { Some(v) } else { None }
}
fn or_null(v: Option<V>) -> V {
    v.unwrap_or(V::Null)
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        d.checked_add_days(Days::new(n as u64)).expect("date")
    } else {
        d.checked_sub_days(Days::new((-n) as u64)).expect("date")
    }
}

impl State {
    /// The data of one company. `shared_invoices`: (Supplier, Invoice) keys of another
    /// company to reuse (see [`State::shareable_invoice_keys`]); empty for the first company,
    /// whose data are then exactly what a single-company simulator serves.
    pub fn generate(
        seed: u64,
        company: &str,
        profile: CompanyProfile,
        ap_invoice_rows: Option<usize>,
        shared_invoices: Vec<(String, String)>,
    ) -> State {
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).expect("date");
        let ap_rows = ap_invoice_rows.unwrap_or(1_500);
        let tables = schema::tables()
            .iter()
            .map(|d| Table::new(d, if d.name == "ApInvoice" { ap_rows } else { 0 }))
            .collect();
        let mut st = State {
            date,
            tables,
            rng: StdRng::seed_from_u64(seed ^ 0x5359_5350_524f),
            aux: StdRng::seed_from_u64(seed ^ 0x4155_5849_4c49),
            company: company.to_string(),
            p: profile.data(),
            reserved_invoices: shared_invoices.iter().cloned().collect(),
            shared_invoices,
            plant: None,
            seq: 0,
            mov_keys: HashSet::new(),
            iw_keys: HashSet::new(),
        };
        st.gen_masters();
        for _ in 0..500 {
            let d = st.hist_day();
            st.gen_po(d, true);
        }
        let paid_limit = 2_000;
        for i in 0..ap_rows {
            let d = st.hist_day();
            let big = i == 0;
            if i % 10 == 5 {
                st.plant = st.shared_invoice(i / 10);
            }
            st.gen_ap_invoice(d, i < paid_limit, big, false);
        }
        let mut n = 0;
        while n < 4_000 {
            let d = st.hist_day();
            n += st.gen_journal(d, None, None);
        }
        for _ in 0..4_000 {
            let d = st.hist_day();
            st.gen_movement(d);
        }
        st
    }

    /// The (Supplier, Invoice) keys another company reuses: rows 5, 15, 25, ... of the
    /// history as generated, `n` at most.
    pub fn shareable_invoice_keys(&self, n: usize) -> Vec<(String, String)> {
        let tb = &self.tables[self.t("ApInvoice")];
        (5..tb.len())
            .step_by(10)
            .take(n)
            .map(|r| {
                (
                    tb.get_str(tb.cell(r, 0)).to_string(),
                    tb.get_str(tb.cell(r, 1)).to_string(),
                )
            })
            .collect()
    }

    /// Shared key `j` with this company's currency of the supplier (its code exists here
    /// too: supplier codes follow the same numbering in every company).
    fn shared_invoice(&self, j: usize) -> Option<(String, String, String)> {
        let (sup, inv) = self.shared_invoices.get(j)?;
        let tb = &self.tables[self.t("ApSupplier")];
        let r = (0..tb.len()).find(|&r| tb.get_str(tb.cell(r, 0)) == sup)?;
        let cur = tb.get_str(tb.cell(r, tb.def.ix("Currency"))).to_string();
        Some((sup.clone(), cur, inv.clone()))
    }

    fn t(&self, name: &str) -> usize {
        schema::table_index(name).expect("table")
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A history day in the last ~6 months, fewer postings on Sundays. Business dates are
    /// day-granular, always midnight (syspro.md §5.1), so many rows share each watermark value.
    fn hist_day(&mut self) -> NaiveDate {
        loop {
            let back = self.rng.gen_range(0..HISTORY_DAYS) as i64;
            let d = add_days(self.date, -back);
            if d.weekday() != Weekday::Sun || self.rng.gen_bool(0.2) {
                return d;
            }
        }
    }

    fn pick_str(&mut self, table: &str, col: &str, fallback: &str) -> String {
        let t = self.t(table);
        let n = self.tables[t].len();
        if n == 0 {
            return fallback.to_string();
        }
        let r = self.rng.gen_range(0..n);
        let c = self.tables[t].def.ix(col);
        let cell = self.tables[t].cell(r, c);
        if cell == NULL {
            return fallback.to_string();
        }
        self.tables[t].get_str(cell).to_string()
    }

    /// A random supplier: (code, currency).
    fn pick_supplier(&mut self) -> (String, String) {
        let t = self.t("ApSupplier");
        let n = self.tables[t].len();
        if n == 0 {
            return ("ACME".into(), self.p.currency.into());
        }
        let r = self.rng.gen_range(0..n);
        let tb = &self.tables[t];
        let code = tb.get_str(tb.cell(r, 0)).to_string();
        let cur = tb.get_str(tb.cell(r, tb.def.ix("Currency"))).to_string();
        (code, cur)
    }

    /// A random stock item: (code, description, material cost at scale 5).
    fn pick_stock(&mut self) -> (String, String, i64) {
        let t = self.t("InvMaster");
        let n = self.tables[t].len();
        if n == 0 {
            return ("RES-0001".into(), "Resistor".into(), 1200);
        }
        let r = self.rng.gen_range(0..n);
        let tb = &self.tables[t];
        (
            tb.get_str(tb.cell(r, 0)).to_string(),
            tb.get_str(tb.cell(r, 1)).to_string(),
            tb.cell(r, tb.def.ix("MaterialCost")) as i64,
        )
    }

    fn push(&mut self, table: &str, row: Row) -> usize {
        let t = self.t(table);
        self.tables[t].push(row);
        self.tables[t].len() - 1
    }

    // ---------------------------------------------------------------- masters

    fn gen_masters(&mut self) {
        for i in 0..60 {
            let row = self.supplier_row(i);
            self.push("ApSupplier", row);
        }
        for _ in 0..250 {
            let row = self.customer_row();
            self.push("ArCustomer", row);
        }
        for i in 0..400 {
            let row = self.stock_row(i);
            self.push("InvMaster", row);
            let t = self.t("InvMaster");
            let code = {
                let tb = &self.tables[t];
                tb.get_str(tb.cell(tb.len() - 1, 0)).to_string()
            };
            for (w, wh) in self.p.warehouses.iter().enumerate() {
                if w == 0 || self.rng.gen_bool(0.8) {
                    let row = self.inv_wh_row(&code, wh);
                    self.push("InvWarehouse", row);
                }
            }
        }
        for (i, _) in self.p.gl.iter().enumerate() {
            let row = self.gl_row(i);
            self.push("GenMaster", row);
        }
        for (i, g) in self.p.gl.iter().enumerate() {
            for year in [2025, 2026] {
                let row = self.gl_history_row(g.0, year, i);
                self.push("GenHistory", row);
            }
        }
    }

    fn supplier_row(&mut self, i: usize) -> Row {
        let suppliers = self.p.suppliers;
        let (prefix, name, cur) = suppliers[i % suppliers.len()];
        let n = self.next();
        let (code, name) = if i == 0 {
            ("ACME".to_string(), name.to_string())
        } else if i < suppliers.len() {
            (format!("{prefix}{n:03}"), name.to_string())
        } else {
            (
                format!("{prefix}{n:03}"),
                format!("{name} - branch {}", i / suppliers.len() + 1),
            )
        };
        let short: String = name.chars().take(20).collect::<String>().to_uppercase();
        let added = NaiveDate::from_ymd_opt(
            2015 + (i as i32 % 10),
            1 + (i as u32 % 12),
            1 + (i as u32 % 28),
        );
        let first = self.rng.gen_bool(0.9);
        let rng = &mut self.rng;
        vec![
            s(code),
            s(name),
            s(short.trim_end()),
            s(["LOCAL", "IMPORT", "SERVICE"][rng.gen_range(0..3)]),
            s(BRANCHES[rng.gen_range(0..3)]),
            s(cur),
            s(["30", "60", "CO", "7"][rng.gen_range(0..4)]),
            s(if rng.gen_bool(0.1) { "Y" } else { " " }),
            if rng.gen_bool(0.7) {
                s(format!("4{:09}", rng.gen_range(0..1_000_000_000u64)))
            } else {
                V::Null
            },
            cents(rng.gen_range(0..50_000_000)),
            or_null(added.filter(|_| i % 7 != 3).map(dt)),
            or_null(opt(first, dt(add_days(self.date, -400 - i as i64)))),
            or_null(opt(first, dt(add_days(self.date, -(i as i64 % 40))))),
            or_null(opt(
                first && i.is_multiple_of(3),
                dt(add_days(self.date, -(i as i64 % 25))),
            )),
        ]
    }

    fn customer_row(&mut self) -> Row {
        let n = self.next();
        let rng = &mut self.rng;
        let (a, b) = self.p.customer_words;
        let name = format!(
            "{} {}",
            a[rng.gen_range(0..a.len())],
            b[rng.gen_range(0..b.len())]
        );
        let short: String = name.chars().take(20).collect::<String>().to_uppercase();
        let added = add_days(self.date, -rng.gen_range(200..3000));
        vec![
            // zero-padded numeric code kept as a string (syspro.md §5.8)
            s(format!("{:07}", n)),
            s(name),
            s(short.trim_end()),
            s(["RETAIL", "TRADE", "OEM", "EXPORT"][rng.gen_range(0..4)]),
            s(BRANCHES[rng.gen_range(0..3)]),
            s(["JOHAN", "THANDI", "PIETER", "AISHA", "SIPHO"][rng.gen_range(0..5)]),
            s(self.p.currency),
            int(rng.gen_range(1..200) * 5_000),
            s([" ", " ", " ", "H", "C"][rng.gen_range(0..5)]),
            s(["30", "60", "CO"][rng.gen_range(0..3)]),
            dt(added),
            or_null(opt(
                rng.gen_bool(0.8),
                dt(add_days(self.date, -rng.gen_range(0..120))),
            )),
            or_null(opt(
                rng.gen_bool(0.7),
                dt(add_days(self.date, -rng.gen_range(0..90))),
            )),
        ]
    }

    fn stock_row(&mut self, i: usize) -> Row {
        let n = self.next();
        let (stock, suppliers) = (self.p.stock, self.p.suppliers);
        let k = i % stock.len();
        let (prefix, desc, uom, class, base) = stock[k];
        let rng = &mut self.rng;
        let variant = (i / stock.len()) as u32;
        let cost5 = (base * 1000) * (90 + rng.gen_range(0..30) + variant as i64) / 100;
        let supplier = suppliers[i % suppliers.len()].0.to_string();
        let supplier = if i.is_multiple_of(suppliers.len()) {
            "ACME".to_string()
        } else {
            // the code of the first supplier with that prefix (see supplier_row)
            let t = schema::table_index("ApSupplier").expect("t");
            let tb = &self.tables[t];
            (0..tb.len())
                .map(|r| tb.get_str(tb.cell(r, 0)))
                .find(|c| c.starts_with(&supplier))
                .unwrap_or("ACME")
                .to_string()
        };
        let rng = &mut self.rng;
        vec![
            s(format!("{prefix}-{:05}", n)),
            s(if variant == 0 {
                desc.to_string()
            } else {
                format!("{desc} rev {}", variant + 1)
            }),
            or_null(opt(
                i.is_multiple_of(3),
                s(format!("{desc}; RoHS compliant; MOQ {}", 10 * (1 + i % 9))),
            )),
            s(uom),
            s(class),
            s(supplier),
            V::Dec(cost5 as i128, 5),
            V::Dec((cost5 / 20) as i128, 5),
            s(["B", "M", "S"][rng.gen_range(0..3)]),
            int(rng.gen_range(2..60)),
            dt(add_days(self.date, -rng.gen_range(100..2500))),
            or_null(opt(
                rng.gen_bool(0.05),
                dt(add_days(self.date, rng.gen_range(10..300))),
            )),
        ]
    }

    fn inv_wh_row(&mut self, code: &str, wh: &'static str) -> Row {
        self.iw_keys.insert((code.to_string(), wh));
        let rng = &mut self.rng;
        let on_hand = rng.gen_range(0..5_000i64);
        vec![
            s(code),
            s(wh),
            V::Dec(on_hand as i128, 0),
            V::Dec(rng.gen_range(0..=on_hand.max(1)) as i128 / 2, 0),
            V::Dec(rng.gen_range(0..2_000) as i128, 0),
            V::Dec(
                if rng.gen_bool(0.1) {
                    rng.gen_range(1..200)
                } else {
                    0
                },
                0,
            ),
            V::Dec(rng.gen_range(1_000..20_000_000) as i128, 5),
            // fractional quantities (metres of cable) keep 6 decimals
            V::Dec(rng.gen_range(0..50_000_000_000i64) as i128, 6),
            dt(add_days(self.date, -rng.gen_range(200..2000))),
            or_null(opt(
                rng.gen_bool(0.85),
                dt(add_days(self.date, -rng.gen_range(0..60))),
            )),
            or_null(opt(
                rng.gen_bool(0.9),
                dt(add_days(self.date, -rng.gen_range(0..30))),
            )),
            or_null(opt(
                rng.gen_bool(0.7),
                dt(add_days(self.date, -rng.gen_range(0..90))),
            )),
        ]
    }

    fn gl_row(&mut self, i: usize) -> Row {
        let (code, desc, ty, group) = self.p.gl[i % self.p.gl.len()];
        let rng = &mut self.rng;
        let dr = rng.gen_range(0..500_000_000i64);
        let cr = rng.gen_range(0..500_000_000i64);
        vec![
            s(self.company.clone()),
            s(code),
            s(desc),
            s(ty),
            s(group),
            cents(rng.gen_range(-900_000_000..2_000_000_000i64)),
            cents(dr),
            cents(cr),
        ]
    }

    /// syspro.md §3 [BB]: GenHistory keeps BeginYearBalance and ClosingBalPer1..15 per year;
    /// balances change until the period closes (§5.3).
    fn gl_history_row(&mut self, code: &str, year: i64, i: usize) -> Row {
        let mut bal: i64 = self.rng.gen_range(-50_000_000..100_000_000);
        let mut row = vec![s(self.company.clone()), s(code), int(year), cents(bal)];
        let closed_through = if year < self.date.year() as i64 {
            15
        } else {
            self.date.month() as usize
        };
        for p in 1..=15 {
            if p <= closed_through && p <= 12 {
                bal += self.rng.gen_range(-5_000_000..6_000_000) * (1 + i as i64 % 3);
            }
            // periods after the current one carry the last balance (13-15 are adjustment periods)
            row.push(cents(bal));
        }
        row
    }

    // ------------------------------------------------------------ transactions

    /// A purchase order with lines and, for received lines, GRNs.
    fn gen_po(&mut self, d: NaiveDate, with_lines: bool) -> usize {
        let (sup, cur) = self.pick_supplier();
        // syspro.md §5.8 [GO]: numeric document keys are zero-padded strings ('000000000015574')
        let po = format!("{:015}", 15_000 + self.next());
        let wh = self.p.warehouses[self.rng.gen_range(0..3)];
        let age = (self.date - d).num_days();
        let r: f64 = self.rng.r#gen();
        let status = if !with_lines {
            "1"
        } else if r < 0.05 {
            "*"
        } else if age > 45 && r < 0.85 {
            "9"
        } else if age > 10 && r < 0.6 {
            "4"
        } else {
            "1"
        };
        let due = add_days(d, self.rng.gen_range(14..60));
        let completed = opt(
            status == "9",
            add_days(d, self.rng.gen_range(5..=age.clamp(5, 45))),
        );
        let row = vec![
            s(po.clone()),
            s(sup.clone()),
            s(wh),
            s(status),
            s(if status == "9" || status == "*" {
                " "
            } else {
                "Y"
            }),
            s(if status == "*" { "Y" } else { " " }),
            s(cur.clone()),
            V::Dec(self.p.rate(&cur), 6),
            s(["NOMSA", "KOBUS", "PRIYA", "LERATO"][self.rng.gen_range(0..4)]),
            dt(d),
            dt(due),
            or_null(completed.map(dt)),
            or_null(opt(self.rng.gen_bool(0.05), dt(add_days(d, 3)))),
        ];
        let idx = self.push("PorMasterHdr", row);
        if with_lines {
            let lines = self.rng.gen_range(1..=8);
            for line in 1..=lines {
                let received_frac = match status {
                    "9" => 1.0,
                    "4" => self.rng.gen_range(0.0..1.0),
                    _ => 0.0,
                };
                self.gen_po_line(&po, line, wh, d, due, received_frac, &sup, &cur);
            }
        }
        idx
    }

    #[allow(clippy::too_many_arguments)]
    fn gen_po_line(
        &mut self,
        po: &str,
        line: i64,
        wh: &'static str,
        d: NaiveDate,
        due: NaiveDate,
        received_frac: f64,
        sup: &str,
        cur: &str,
    ) {
        let (stock, desc, cost5) = self.pick_stock();
        let qty = self.rng.gen_range(1..100i64) * 10;
        let recv = ((qty as f64) * received_frac).floor() as i64;
        let price5 = cost5 * 105 / 100;
        let foreign5 = (price5 as i128) * 1_000_000 / self.p.rate(cur);
        let last_receipt = opt(
            recv > 0,
            add_days(d, self.rng.gen_range(2..20)).min(self.date),
        );
        let row = vec![
            s(po),
            int(line),
            s("S"),
            s(stock.clone()),
            s(desc),
            s(wh),
            V::Dec(qty as i128, 0),
            V::Dec(recv as i128, 0),
            V::Dec(price5 as i128, 5),
            V::Dec(foreign5, 5),
            s(if recv >= qty { "Y" } else { " " }),
            s("1300-000-00"),
            s(if recv >= qty { "9" } else { "1" }),
            dt(due),
            dt(add_days(due, self.rng.gen_range(0..10))),
            or_null(last_receipt.map(dt)),
        ];
        self.push("PorMasterDetail", row);
        if let Some(rd) = last_receipt {
            self.gen_grn(sup, po, line, &stock, wh, recv, price5, cur, rd);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gen_grn(
        &mut self,
        sup: &str,
        po: &str,
        line: i64,
        stock: &str,
        wh: &str,
        qty: i64,
        price5: i64,
        cur: &str,
        rd: NaiveDate,
    ) {
        let n = self.next();
        let value_cents = (qty as i128 * price5 as i128 + 500) / 1000;
        // Matching against supplier invoices happens after receipt (syspro.md §7: MatchedValue
        // changes later, OrigReceiptDate does not): old GRNs are mostly matched, recent ones
        // mostly not; some stay partly matched at any age.
        let age = (self.date - rd).num_days();
        let (full, part) = match age {
            a if a > 60 => (0.75, 0.12),
            a if a > 14 => (0.45, 0.2),
            a if a > 0 => (0.1, 0.15),
            _ => (0.0, 0.0),
        };
        let x: f64 = self.aux.r#gen();
        let matched_qty = if x < full {
            qty
        } else if x < full + part && qty > 1 {
            self.aux.gen_range(1..qty)
        } else {
            0
        };
        let matched_value = matched_value(value_cents, qty as i128, matched_qty as i128);
        let row = vec![
            s(sup),
            s(format!("{:015}", 70_000 + n)),
            s("P"),
            int(journal_for_day(rd)),
            int(n as i64),
            dt(rd),
            int(rd.year() as i64),
            int(rd.month() as i64),
            s(po),
            int(line),
            s(stock),
            s(wh),
            V::Dec(qty as i128, 0),
            V::Dec(value_cents, 2),
            V::Dec(matched_value, 2),
            V::Dec(matched_qty as i128, 0),
            s("1300-000-00"),
            s(cur),
            V::Dec(self.p.rate(cur), 6),
        ];
        self.push("GrnDetails", row);
    }

    /// An AP invoice and, when `allow_payments`, its payments. `force_open`: unpaid whatever
    /// its age (a late capture).
    fn gen_ap_invoice(&mut self, jd: NaiveDate, allow_payments: bool, big: bool, force_open: bool) {
        let planted = self.plant.take();
        let (sup, cur) = if let Some((sup, cur, _)) = &planted {
            (sup.clone(), cur.clone())
        } else if big {
            ("ACME".to_string(), self.p.currency.to_string())
        } else {
            self.pick_supplier()
        };
        let mut n = self.next();
        let invoice = match planted {
            Some((_, _, invoice)) => invoice,
            None => loop {
                let invoice = match n % 7 {
                    // syspro.md §3 notes [BB]: Latin1_General_BIN, so lower case sorts after upper case
                    0 => format!("inv{n:06}"),
                    1 | 2 => format!("{n:08}"),
                    3 => format!("TAX-{n}"),
                    _ => format!("INV{n:07}"),
                };
                if !self
                    .reserved_invoices
                    .contains(&(sup.clone(), invoice.clone()))
                {
                    break invoice;
                }
                n = self.next();
            },
        };
        let rng = &mut self.rng;
        let inv_date = add_days(jd, -rng.gen_range(0..10));
        let due = add_days(inv_date, [30, 60, 7][rng.gen_range(0..3)]);
        // log-uniform-ish amounts, some with a trailing zero (1234.50)
        let value: i64 = if big {
            1_234_567_890_123 // 12345678901.23: exactness test (no f64 anywhere)
        } else {
            let mag = 10i64.pow(rng.gen_range(3..8));
            let v = rng.gen_range(mag..mag * 10);
            if rng.gen_bool(0.2) { v / 10 * 10 } else { v }
        };
        let disc = if rng.gen_bool(0.3) { value / 50 } else { 0 };
        let r: f64 = rng.r#gen();
        let pay_date = add_days(jd, rng.gen_range(5..60));
        let can_pay = allow_payments && pay_date <= self.date && !big && !force_open;
        let (balance, payments): (i64, Vec<(NaiveDate, i64)>) = if can_pay && r < 0.6 {
            (0, vec![(pay_date, value)])
        } else if can_pay && r < 0.75 {
            let part = value / 2;
            let second = add_days(pay_date, 10);
            // some stay part-paid for months (disputes, instalments): open balances of all ages
            if second <= self.date && self.aux.gen_bool(0.6) {
                (0, vec![(pay_date, part), (second, value - part)])
            } else {
                (value - part, vec![(pay_date, part)])
            }
        } else if !allow_payments && !force_open && r < 0.6 && pay_date <= self.date {
            (0, vec![])
        } else {
            (value, vec![])
        };
        let zero_at = opt(
            balance == 0,
            payments.last().map(|p| p.0).unwrap_or(pay_date),
        );
        let rng = &mut self.rng;
        let row = vec![
            s(sup.clone()),
            s(invoice.clone()),
            dt(inv_date),
            dt(jd),
            dt(due),
            or_null(opt(disc > 0, dt(add_days(inv_date, 10)))),
            int(jd.year() as i64),
            int(jd.month() as i64),
            int(journal_for_day(jd)),
            s(BRANCHES[rng.gen_range(0..3)]),
            or_null(opt(
                rng.gen_bool(0.8),
                s(format!("PO {:015}", 15_000 + rng.gen_range(0..600))),
            )),
            cents(value),
            cents(disc),
            cents(balance),
            cents(if balance > 0 && rng.gen_bool(0.3) {
                balance
            } else {
                0
            }),
            cents(0),
            s(if balance == 0 { "P" } else { " " }),
            s(cur.clone()),
            V::Dec(self.p.rate(&cur), 6),
            s("M"),
            int(zero_at.map(|d| d.year() as i64).unwrap_or(0)),
            int(zero_at.map(|d| d.month() as i64).unwrap_or(0)),
        ];
        self.push("ApInvoice", row);
        for (pd, amount) in payments {
            let row = self.payment_row(&sup, &invoice, pd, amount, &cur);
            self.push("ApInvoicePay", row);
        }
    }

    fn payment_row(
        &mut self,
        sup: &str,
        invoice: &str,
        pd: NaiveDate,
        amount: i64,
        cur: &str,
    ) -> Row {
        let n = self.next();
        let rng = &mut self.rng;
        let eft = rng.gen_bool(0.85);
        vec![
            s(sup),
            s(invoice),
            int(n as i64),
            dt(pd),
            int(pd.year() as i64),
            int(pd.month() as i64),
            s(if eft { "P" } else { "A" }),
            int(journal_for_day(pd)),
            or_null(opt(eft, s(format!("EFT {}", pd.format("%Y%m%d"))))),
            cents(-amount),
            cents(-amount),
            s(cur),
            V::Dec(self.p.rate(cur), 6),
            or_null(opt(eft, s(format!("PAY{:06}", n % 1_000_000)))),
            int(if eft { (n / 10) as i64 } else { 0 }),
        ]
    }

    /// A balanced GL journal (pairs of debit/credit entries); returns rows added.
    /// `max_rows` limits the entry count (for mutations). `posted`: `EntryPosted` of every
    /// line; `None` (history) decides by age: lines stay unposted ('N') for a while and are
    /// posted later without EntryDate moving (syspro.md §7: "EntryPosted flips N → Y later;
    /// unposted lines are in the table"), so unposted journals of several ages exist.
    fn gen_journal(
        &mut self,
        d: NaiveDate,
        max_rows: Option<usize>,
        posted: Option<bool>,
    ) -> usize {
        let journal = self.next() as i64;
        let posted = posted.unwrap_or_else(|| {
            let unposted = match (self.date - d).num_days() {
                a if a <= 0 => 1.0,
                a if a <= 3 => 0.4,
                a if a <= 30 => 0.08,
                _ => 0.02,
            };
            !self.aux.gen_bool(unposted)
        });
        let pairs = self.rng.gen_range(1..=4);
        let mut entry = 0;
        let sources = ["AP", "AR", "IN", "GR", "CB"];
        let src = sources[self.rng.gen_range(0..sources.len())];
        for _ in 0..pairs {
            let value = self.rng.gen_range(100..50_000_000i64);
            let gl = self.p.gl;
            let dr = gl[self.rng.gen_range(0..gl.len())].0;
            let cr = gl[self.rng.gen_range(0..gl.len())].0;
            for (code, ty) in [(dr, "D"), (cr, "C")] {
                if max_rows.is_some_and(|m| entry >= m) {
                    return entry;
                }
                entry += 1;
                let rng = &mut self.rng;
                let row = vec![
                    int(d.year() as i64),
                    int(d.month() as i64),
                    int(journal),
                    int(entry as i64),
                    s(self.company.clone()),
                    s(code),
                    s(ty),
                    cents(value),
                    dt(d),
                    dt(add_days(d, -rng.gen_range(0..3))),
                    or_null(opt(
                        rng.gen_bool(0.6),
                        dt(add_days(d, -rng.gen_range(0..15))),
                    )),
                    s(format!("{src}{:06}", journal % 1_000_000)),
                    or_null(opt(
                        rng.gen_bool(0.5),
                        s(format!("{src} posting – {}", d.format("%d %b %Y"))),
                    )),
                    s(if posted { "Y" } else { "N" }),
                    cents(value),
                    s(self.p.currency),
                    int(journal_for_day(d)),
                    s(" "),
                ];
                self.push("GenJournalDetail", row);
            }
        }
        entry
    }

    fn gen_movement(&mut self, d: NaiveDate) -> Option<usize> {
        let (stock, _, cost5) = self.pick_stock();
        let wh = self.p.warehouses[self.rng.gen_range(0..3)];
        let secs = self.date_secs(d);
        let mut time = 0;
        for _ in 0..20 {
            let (h, mi, se, cs) = (
                self.rng.gen_range(7..19),
                self.rng.gen_range(0..60),
                self.rng.gen_range(0..60),
                self.rng.gen_range(0..100),
            );
            time = ((h * 100 + mi) * 100 + se) * 100 + cs;
            if self.mov_keys.insert((stock.clone(), wh, secs, time)) {
                break;
            }
            time = -1;
        }
        if time < 0 {
            return None;
        }
        let n = self.next() as i64;
        let rng = &mut self.rng;
        let sale = rng.gen_bool(0.55);
        let trn_type = if sale {
            " "
        } else {
            ["R", "I", "A", "T"][rng.gen_range(0..4)]
        };
        let qty: i64 = rng.gen_range(1..200) * if sale || trn_type == "I" { -1 } else { 1 };
        let value = (qty as i128 * cost5 as i128) / 1000;
        let (sup, cus) = if sale {
            (
                None,
                Some(self.pick_str("ArCustomer", "Customer", "0000001")),
            )
        } else if trn_type == "R" {
            (Some(self.pick_supplier().0), None)
        } else {
            (None, None)
        };
        let row = vec![
            s(stock),
            s(wh),
            int(d.year() as i64),
            int(d.month() as i64),
            dt(d),
            int(time),
            s(if sale { "S" } else { "I" }),
            s(trn_type),
            V::Dec(qty as i128, 0),
            V::Dec(value, 2),
            V::Dec(cost5 as i128, 5),
            or_null(opt(!sale, s(format!("MOV{n:07}")))),
            int(journal_for_day(d)),
            int(n),
            or_null(sup.map(s)),
            or_null(cus.map(s)),
            or_null(opt(sale, s(format!("{:015}", 300_000 + n)))),
            or_null(opt(sale, s(format!("{:08}", 900_000 + n)))),
        ];
        Some(self.push("InvMovements", row))
    }

    fn date_secs(&self, d: NaiveDate) -> i64 {
        date_to_secs(d)
    }

    // ---------------------------------------------------------------- mutations

    pub fn advance(&mut self, days: u32) {
        self.date = add_days(self.date, days as i64);
    }

    pub fn mutate(&mut self, plan: &MutationPlan) -> MutationReport {
        let mut report = MutationReport {
            business_date: Some(self.date),
            ..Default::default()
        };
        let names: Vec<String> = match &plan.tables {
            Some(v) => v.clone(),
            None => schema::TABLE_NAMES.iter().map(|s| s.to_string()).collect(),
        };
        for name in names {
            let Some(t) = schema::table_index(&name) else {
                report.unknown_tables.push(name);
                continue;
            };
            let tm = self.mutate_table(t, plan);
            report.tables.insert(name, tm);
        }
        report
    }

    fn mutate_table(&mut self, t: usize, plan: &MutationPlan) -> TableMutations {
        let mut tm = TableMutations::default();
        let name = self.tables[t].def.name;
        // deletes first, so updates never touch a row deleted in the same plan
        let n = self.tables[t].len();
        let mut del: Vec<usize> =
            rand::seq::index::sample(&mut self.rng, n, plan.deletes.min(n)).into_vec();
        del.sort_unstable();
        for &r in &del {
            tm.deleted.push(self.tables[t].expected_key(r));
        }
        self.tables[t].delete_rows(del);

        // updates: rows in the overlap window (watermark tables) or any row (snapshots)
        let lo = date_to_secs(add_days(self.date, -(plan.backdate_max_days as i64)));
        let cands: Vec<usize> = match self.tables[t].def.watermark {
            Some(w) => (0..self.tables[t].len())
                .filter(|&r| self.tables[t].cell(r, w) as i64 >= lo)
                .collect(),
            None => (0..self.tables[t].len()).collect(),
        };
        let k = plan.updates.min(cands.len());
        let mut picked: Vec<usize> = rand::seq::index::sample(&mut self.rng, cands.len(), k)
            .into_iter()
            .map(|i| cands[i])
            .collect();
        picked.sort_unstable();
        for r in picked {
            self.update_row(t, r);
            tm.updated.push(self.tables[t].expected_key(r));
        }

        // inserts at the business date, then back-dated inserts
        let mut dates: Vec<NaiveDate> = vec![self.date; plan.inserts];
        if self.tables[t].def.watermark.is_some() && plan.backdate_max_days > 0 {
            for _ in 0..plan.backdated {
                let back = self.rng.gen_range(1..=plan.backdate_max_days) as i64;
                dates.push(add_days(self.date, -back));
            }
        }
        let mut remaining: Vec<NaiveDate> = dates;
        let mut guard = 0;
        while let Some(d) = remaining.pop() {
            let before = self.tables[t].len();
            let added = self.insert_row(name, d, 1);
            for r in before..before + added {
                tm.inserted.push(self.tables[t].expected_key(r));
            }
            guard += 1;
            if added == 0 && guard > 10_000 {
                break;
            }
        }
        tm
    }

    /// Insert up to `want` rows into `name` with watermark date `d`; returns rows added.
    fn insert_row(&mut self, name: &str, d: NaiveDate, want: usize) -> usize {
        let t = self.t(name);
        let before = self.tables[t].len();
        match name {
            "ApInvoice" => self.gen_ap_invoice(d, false, false, false),
            "ApInvoicePay" => {
                let ai = self.t("ApInvoice");
                let n = self.tables[ai].len();
                if n == 0 {
                    return 0;
                }
                let r = self.rng.gen_range(0..n);
                let tb = &self.tables[ai];
                let sup = tb.get_str(tb.cell(r, 0)).to_string();
                let inv = tb.get_str(tb.cell(r, 1)).to_string();
                let cur = tb.get_str(tb.cell(r, tb.def.ix("Currency"))).to_string();
                let amount = self.rng.gen_range(100..10_000_000);
                let row = self.payment_row(&sup, &inv, d, amount, &cur);
                self.push(name, row);
            }
            "ApSupplier" => {
                let n = self.p.suppliers.len();
                let i = 1 + self.rng.gen_range(0..n - 1) + n;
                let mut row = self.supplier_row(i);
                row[10] = dt(d);
                self.push(name, row);
            }
            "ArCustomer" => {
                let mut row = self.customer_row();
                row[10] = dt(d);
                self.push(name, row);
            }
            "InvMaster" => {
                let i = self.rng.gen_range(0..1000);
                let mut row = self.stock_row(i);
                row[10] = dt(d);
                self.push(name, row);
            }
            "InvWarehouse" => {
                for _ in 0..50 {
                    let (stock, _, _) = self.pick_stock();
                    let wh = self.p.warehouses[self.rng.gen_range(0..3)];
                    if !self.iw_keys.contains(&(stock.clone(), wh)) {
                        let mut row = self.inv_wh_row(&stock, wh);
                        row[8] = dt(d);
                        self.push(name, row);
                        break;
                    }
                }
            }
            "PorMasterHdr" => {
                self.gen_po(d, false);
            }
            "PorMasterDetail" => {
                let h = self.t("PorMasterHdr");
                let n = self.tables[h].len();
                if n == 0 {
                    return 0;
                }
                let r = self.rng.gen_range(0..n);
                let tb = &self.tables[h];
                let po = tb.get_str(tb.cell(r, 0)).to_string();
                let sup = tb.get_str(tb.cell(r, 1)).to_string();
                let wh_s = tb.get_str(tb.cell(r, 2)).to_string();
                let cur = tb.get_str(tb.cell(r, tb.def.ix("Currency"))).to_string();
                let wh = self.p.warehouse(&wh_s);
                let dt_ = &self.tables[t];
                let max_line = (0..dt_.len())
                    .filter(|&x| dt_.get_str(dt_.cell(x, 0)) == po)
                    .map(|x| dt_.cell(x, 1) as i64)
                    .max()
                    .unwrap_or(0);
                if max_line >= 9999 {
                    return 0;
                }
                let due = add_days(d, 21);
                self.gen_po_line(&po, max_line + 1, wh, d, due, 0.0, &sup, &cur);
            }
            "GrnDetails" => {
                let pd = self.t("PorMasterDetail");
                let n = self.tables[pd].len();
                if n == 0 {
                    return 0;
                }
                let r = self.rng.gen_range(0..n);
                let tb = &self.tables[pd];
                let po = tb.get_str(tb.cell(r, 0)).to_string();
                let line = tb.cell(r, 1) as i64;
                let stock = tb.get_str(tb.cell(r, 3)).to_string();
                let wh = tb.get_str(tb.cell(r, 5)).to_string();
                let price5 = tb.cell(r, 8) as i64;
                let (sup, cur) = self.pick_supplier();
                let qty = self.rng.gen_range(1..50);
                self.gen_grn(&sup, &po, line, &stock, &wh, qty, price5, &cur, d);
            }
            "GenMaster" => {
                let n = self.next();
                let mut row = self.gl_row(0);
                row[1] = s(format!("9{:03}-{:03}-00", n % 1000, n / 1000 % 1000));
                row[2] = s(format!("Suspense account {n}"));
                let tb = &self.tables[t];
                if tb.key_exists(&row[..2]) {
                    return 0;
                }
                self.push(name, row);
            }
            "GenHistory" => {
                // a new financial year for an existing account
                let code = self.pick_str("GenMaster", "GlCode", self.p.gl[0].0);
                let year = d.year() as i64 + 1;
                let key = [s(self.company.clone()), s(code.clone()), int(year)];
                if self.tables[t].key_exists(&key) {
                    return 0;
                }
                let row = self.gl_history_row(&code, year, 0);
                self.push(name, row);
            }
            "GenJournalDetail" => {
                let posted = d < self.date;
                self.gen_journal(d, Some(want.max(1)), Some(posted));
            }
            "InvMovements" => {
                self.gen_movement(d);
            }
            _ => return 0,
        }
        self.tables[t].len() - before
    }

    fn update_row(&mut self, t: usize, r: usize) {
        let name = self.tables[t].def.name;
        let today = dt(self.date);
        match name {
            "ApInvoice" => {
                let c = self.tables[t].def.ix("MthInvBal1");
                let bal = self.tables[t].cell(r, c) as i64;
                let new = if bal > 1 {
                    bal / 2
                } else {
                    self.rng.gen_range(100..100_000)
                };
                self.set(t, r, "MthInvBal1", cents(new));
                self.set(t, r, "InvoiceStatus", s(if new == 0 { "P" } else { " " }));
            }
            "ApInvoicePay" => {
                let n = self.next();
                self.set(t, r, "PaymentReference", s(format!("EFT recalled {n}")));
            }
            "ApSupplier" => {
                let v = self.rng.gen_range(0..50_000_000);
                self.set(t, r, "CurrentBalance", cents(v));
                let c = self.tables[t].def.ix("OnHold");
                let hold = self.tables[t].get_str(self.tables[t].cell(r, c)) == "Y";
                self.set(t, r, "OnHold", s(if hold { " " } else { "Y" }));
            }
            "ArCustomer" => {
                let c = self.tables[t].def.ix("CreditLimit");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(t, r, "CreditLimit", int(old + 5_000));
                self.set(t, r, "DateLastSale", today);
            }
            "InvMaster" => {
                let c = self.tables[t].def.ix("MaterialCost");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(
                    t,
                    r,
                    "MaterialCost",
                    V::Dec((old + old / 20 + 1) as i128, 5),
                );
            }
            "InvWarehouse" => {
                let c = self.tables[t].def.ix("QtyOnHand");
                let old = self.tables[t].cell(r, c) as i64;
                let delta = self.rng.gen_range(1..100) * 1_000_000;
                self.set(t, r, "QtyOnHand", V::Dec((old + delta) as i128, 6));
                self.set(t, r, "DateLastStockMove", today);
            }
            "PorMasterHdr" => {
                let c = self.tables[t].def.ix("OrderStatus");
                let st = self.tables[t]
                    .get_str(self.tables[t].cell(r, c))
                    .to_string();
                let next = match st.as_str() {
                    "1" => "4",
                    "4" => "9",
                    _ => "1",
                };
                self.set(t, r, "OrderStatus", s(next));
                self.set(
                    t,
                    r,
                    "DatePoCompleted",
                    if next == "9" { today } else { V::Null },
                );
            }
            "PorMasterDetail" => {
                let c = self.tables[t].def.ix("MReceivedQty");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(t, r, "MReceivedQty", V::Dec((old + 1_000_000) as i128, 6));
                self.set(t, r, "MLastReceiptDat", today);
            }
            "GenMaster" => {
                let v = self.rng.gen_range(1..1_000_000);
                let c = self.tables[t].def.ix("CurrentBalance");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(t, r, "CurrentBalance", cents(old + v));
                let c = self.tables[t].def.ix("PtdDrValue");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(t, r, "PtdDrValue", cents(old + v));
            }
            "GenHistory" => {
                let col = format!("ClosingBalPer{}", self.date.month());
                let c = self.tables[t].def.ix(&col);
                let old = self.tables[t].cell(r, c) as i64;
                let v = self.rng.gen_range(1..1_000_000);
                self.set(t, r, &col, cents(old + v));
            }
            "GenJournalDetail" => {
                let n = self.next();
                self.set(t, r, "EntryPosted", s("Y"));
                self.set(t, r, "Comment", s(format!("Reviewed ({n})")));
            }
            "InvMovements" => {
                let n = self.next();
                self.set(t, r, "Reference", s(format!("ADJ{n:07}")));
            }
            "GrnDetails" => {
                let c = self.tables[t].def.ix("QtyReceived");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(t, r, "QtyReceived", V::Dec((old + 1_000_000) as i128, 6));
                let c = self.tables[t].def.ix("OrigGrnValue");
                let old = self.tables[t].cell(r, c) as i64;
                self.set(t, r, "OrigGrnValue", cents(old + 1_000));
            }
            _ => {}
        }
    }

    fn set(&mut self, t: usize, r: usize, col: &str, v: V) {
        let c = self.tables[t].def.ix(col);
        // keep decimals within precision (values only grow slowly; wrap if not)
        if let (ColType::Dec(p, sc), V::Dec(m, ms)) = (self.tables[t].def.cols[c].ty, &v) {
            let limit = 10i128.pow(p as u32);
            if let Some(x) = crate::store::rescale(*m, *ms, sc as u32)
                && x.abs() >= limit
            {
                self.tables[t].set(r, c, V::Dec(x % (limit / 10), sc as u32));
                return;
            }
        }
        self.tables[t].set(r, c, v);
    }
}

/// The value of `matched_qty` of a GRN line of `qty` worth `value_cents`, in cents
/// (proportional, rounded half up; the whole value when fully matched).
fn matched_value(value_cents: i128, qty: i128, matched_qty: i128) -> i128 {
    if qty <= 0 || matched_qty >= qty {
        value_cents
    } else {
        (value_cents * matched_qty * 2 + qty) / (2 * qty)
    }
}

/// One AP/GL journal per posting day (dec(10,0)).
fn journal_for_day(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")).num_days() + 1_000
}
