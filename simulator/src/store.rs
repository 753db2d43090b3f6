//! Compact row storage: every cell is one `u64`, interpreted through the
//! column's type. Strings live in a per-table arena. This keeps 1,000,000
//! ApInvoice rows at roughly 200 MB (8 bytes per cell plus string bytes).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Write as _;

use crate::schema::{ColType, TableDef};

/// The null marker for every column type (`i64::MIN`): never a valid decimal
/// (its precision is at most 18 digits), date or string reference.
pub(crate) const NULL: u64 = i64::MIN as u64;

/// A value handed to [`Table::push`] / [`Table::set`] by the generators.
#[derive(Debug, Clone)]
pub(crate) enum V {
    Null,
    Str(String),
    /// mantissa, scale: `Dec(123450, 2)` is 1234.50. Rescaled to the column's scale.
    Dec(i128, u32),
    /// seconds since the Unix epoch of a naive (site-local) date-time.
    Dt(i64),
}

pub(crate) struct Table {
    pub def: &'static TableDef,
    pub ncols: usize,
    pub cells: Vec<u64>,
    arena: String,
    small: HashMap<Box<str>, u64>,
}

impl Table {
    pub fn new(def: &'static TableDef, capacity_rows: usize) -> Self {
        let ncols = def.cols.len();
        Table {
            def,
            ncols,
            cells: Vec::with_capacity(capacity_rows * ncols),
            arena: String::new(),
            small: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len() / self.ncols
    }

    #[inline]
    pub fn cell(&self, i: usize, c: usize) -> u64 {
        self.cells[i * self.ncols + c]
    }

    /// Intern a string into the arena; short strings are de-duplicated.
    pub fn put_str(&mut self, s: &str) -> u64 {
        if s.len() <= 8
            && let Some(c) = self.small.get(s)
        {
            return *c;
        }
        let off = self.arena.len() as u64;
        assert!(
            s.len() < (1 << 24) && off < (1 << 39),
            "string arena overflow"
        );
        self.arena.push_str(s);
        let cell = (off << 24) | s.len() as u64;
        if s.len() <= 8 {
            self.small.insert(s.into(), cell);
        }
        cell
    }

    #[inline]
    pub fn get_str(&self, cell: u64) -> &str {
        let off = (cell >> 24) as usize;
        let len = (cell & 0xFF_FFFF) as usize;
        &self.arena[off..off + len]
    }

    pub fn encode(&mut self, c: usize, v: V) -> u64 {
        let col = &self.def.cols[c];
        match (col.ty, v) {
            (_, V::Null) => {
                assert!(
                    col.nullable,
                    "{}.{} is not nullable",
                    self.def.name, col.name
                );
                NULL
            }
            (ColType::Char(w) | ColType::VarChar(w), V::Str(s)) => {
                let s = s.trim_end_matches(' ');
                assert!(
                    s.chars().count() <= w as usize,
                    "{}.{}: '{s}' longer than {w}",
                    self.def.name,
                    col.name
                );
                self.put_str(s)
            }
            (ColType::Dec(p, s), V::Dec(m, ms)) => {
                let m = rescale(m, ms, s as u32)
                    .unwrap_or_else(|| panic!("{}.{}: inexact decimal", self.def.name, col.name));
                assert!(
                    m.unsigned_abs() < 10u128.pow(p as u32),
                    "{}.{}: {m} exceeds precision {p}",
                    self.def.name,
                    col.name
                );
                m as i64 as u64
            }
            (ColType::Int, V::Dec(m, 0)) => {
                assert!(i32::try_from(m).is_ok());
                m as i64 as u64
            }
            (ColType::DateTime, V::Dt(t)) => t as u64,
            (ty, v) => panic!(
                "{}.{}: value {v:?} does not fit {ty:?}",
                self.def.name, col.name
            ),
        }
    }

    pub fn push(&mut self, vals: Vec<V>) {
        assert_eq!(
            vals.len(),
            self.ncols,
            "{}: wrong column count",
            self.def.name
        );
        for (c, v) in vals.into_iter().enumerate() {
            let cell = self.encode(c, v);
            self.cells.push(cell);
        }
    }

    pub fn set(&mut self, row: usize, c: usize, v: V) {
        let cell = self.encode(c, v);
        self.cells[row * self.ncols + c] = cell;
    }

    /// Remove rows (indices in any order); row order is not preserved.
    pub fn delete_rows(&mut self, mut idx: Vec<usize>) {
        idx.sort_unstable();
        idx.dedup();
        for &i in idx.iter().rev() {
            let last = self.len() - 1;
            if i != last {
                let n = self.ncols;
                let (a, b) = self.cells.split_at_mut(last * n);
                a[i * n..(i + 1) * n].copy_from_slice(&b[..n]);
            }
            self.cells.truncate(last * self.ncols);
        }
    }

    /// Compare one column of two rows with the column's semantics.
    #[inline]
    pub fn cmp_cells(&self, c: usize, a: u64, b: u64) -> Ordering {
        match (a == NULL, b == NULL) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        match self.def.cols[c].ty {
            ColType::Char(_) | ColType::VarChar(_) => cmp_str(self.get_str(a), self.get_str(b)),
            _ => (a as i64).cmp(&(b as i64)),
        }
    }

    pub fn cmp_rows_by(&self, cols: &[(usize, bool)], ra: usize, rb: usize) -> Ordering {
        for &(c, desc) in cols {
            let o = self.cmp_cells(c, self.cell(ra, c), self.cell(rb, c));
            if o != Ordering::Equal {
                return if desc { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    }

    /// A sortable 128-bit image of a cell: strings by their first 16 bytes
    /// (trailing spaces trimmed, zero filled), numbers and dates order-preserving.
    /// Nulls map to 0 (first). Ties must be resolved with [`Table::cmp_rows_by`].
    #[inline]
    fn pack(&self, c: usize, cell: u64, desc: bool) -> u128 {
        let v = if cell == NULL {
            0
        } else if self.def.cols[c].ty.is_str() {
            let s = self.get_str(cell).trim_end_matches(' ').as_bytes();
            let mut b = [0u8; 16];
            let n = s.len().min(16);
            b[..n].copy_from_slice(&s[..n]);
            u128::from_be_bytes(b)
        } else {
            ((cell ^ (1u64 << 63)) as u128) + 1
        };
        if desc { !v } else { v }
    }

    /// Sort row indices by `order` (exact semantics of [`Table::cmp_rows_by`]).
    /// Large inputs are sorted on packed keys first, which avoids chasing cells
    /// and strings in memory (1,000,000 rows in well under a second).
    /// With `limit`, only the first `limit` positions are guaranteed (and kept).
    pub fn sort_indices(&self, idx: &mut Vec<u32>, order: &[(usize, bool)], limit: Option<usize>) {
        let limit = limit.filter(|&l| l < idx.len() / 2);
        if idx.len() < 4096 || order.is_empty() {
            idx.sort_unstable_by(|a, b| self.cmp_rows_by(order, *a as usize, *b as usize));
            if let Some(l) = limit {
                idx.truncate(l);
            }
            return;
        }
        let k = order.len().min(3);
        let mut packed: Vec<([u128; 3], u32)> = idx
            .iter()
            .map(|&r| {
                let mut p = [0u128; 3];
                for (j, &(c, desc)) in order[..k].iter().enumerate() {
                    p[j] = self.pack(c, self.cell(r as usize, c), desc);
                }
                (p, r)
            })
            .collect();
        let cmp = |a: &([u128; 3], u32), b: &([u128; 3], u32)| {
            a.0.cmp(&b.0)
                .then_with(|| self.cmp_rows_by(order, a.1 as usize, b.1 as usize))
        };
        match limit {
            Some(0) => packed.clear(),
            Some(l) => {
                packed.select_nth_unstable_by(l - 1, cmp);
                packed.truncate(l);
                packed.sort_unstable_by(cmp);
            }
            None => packed.sort_unstable_by(cmp),
        }
        idx.clear();
        idx.extend(packed.into_iter().map(|p| p.1));
    }

    /// Row indices ordered by the primary key.
    pub fn key_order(&self) -> Vec<usize> {
        let key: Vec<(usize, bool)> = self.def.key.iter().map(|&k| (k, false)).collect();
        let mut idx: Vec<u32> = (0..self.len() as u32).collect();
        self.sort_indices(&mut idx, &key, None);
        idx.into_iter().map(|r| r as usize).collect()
    }

    /// Find a row by its key cells' normalised text (used by tests and mutations).
    pub fn key_exists(&self, key: &[V]) -> bool {
        (0..self.len()).any(|r| {
            self.def.key.iter().zip(key).all(|(&c, v)| {
                let cell = self.cell(r, c);
                match v {
                    V::Str(s) => cell != NULL && cmp_str(self.get_str(cell), s) == Ordering::Equal,
                    V::Dec(m, ms) => match self.def.cols[c].ty {
                        ColType::Dec(_, s) => {
                            rescale(*m, *ms, s as u32) == Some(cell as i64 as i128)
                        }
                        _ => *m == cell as i64 as i128,
                    },
                    V::Dt(t) => cell as i64 == *t,
                    V::Null => cell == NULL,
                }
            })
        })
    }

    /// Normalised JSON value as ml-connector must output it.
    pub fn expected_value(&self, c: usize, cell: u64) -> serde_json::Value {
        use serde_json::Value;
        if cell == NULL {
            return Value::Null;
        }
        match self.def.cols[c].ty {
            ColType::Char(_) | ColType::VarChar(_) => {
                Value::String(self.get_str(cell).trim_end_matches(' ').to_string())
            }
            ColType::Dec(_, s) => {
                let mut t = String::new();
                write_decimal(&mut t, cell as i64, s as u32);
                Value::Number(serde_json::from_str(&t).expect("decimal text"))
            }
            ColType::Int => Value::Number((cell as i64).into()),
            ColType::DateTime => {
                let mut t = String::new();
                write_datetime(&mut t, cell as i64);
                Value::String(t)
            }
        }
    }

    pub fn expected_row(&self, r: usize) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (c, col) in self.def.cols.iter().enumerate() {
            m.insert(
                col.name.to_string(),
                self.expected_value(c, self.cell(r, c)),
            );
        }
        m
    }

    pub fn expected_key(&self, r: usize) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for &c in &self.def.key {
            m.insert(
                self.def.cols[c].name.to_string(),
                self.expected_value(c, self.cell(r, c)),
            );
        }
        m
    }
}

/// SQL Server comparison of character data: trailing spaces are ignored
/// (ANSI padding), then binary order (syspro.md §3 notes: Latin1_General_BIN).
#[inline]
pub(crate) fn cmp_str(a: &str, b: &str) -> Ordering {
    a.trim_end_matches(' ')
        .as_bytes()
        .cmp(b.trim_end_matches(' ').as_bytes())
}

/// Rescale an exact decimal; `None` when digits would be lost or on overflow.
pub(crate) fn rescale(m: i128, from: u32, to: u32) -> Option<i128> {
    if to >= from {
        m.checked_mul(10i128.checked_pow(to - from)?)
    } else {
        let f = 10i128.checked_pow(from - to)?;
        if m % f == 0 { Some(m / f) } else { None }
    }
}

pub(crate) fn write_decimal(out: &mut String, v: i64, scale: u32) {
    let neg = v < 0;
    let u = v.unsigned_abs();
    if scale == 0 {
        if neg {
            out.push('-');
        }
        let _ = write!(out, "{u}");
        return;
    }
    let f = 10u64.pow(scale);
    if neg {
        out.push('-');
    }
    let _ = write!(out, "{}.{:0width$}", u / f, u % f, width = scale as usize);
}

pub(crate) fn days_from_ce_to_epoch() -> i64 {
    719_163
}

pub(crate) fn date_to_secs(d: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    (d.num_days_from_ce() as i64 - days_from_ce_to_epoch()) * 86_400
}

/// `2026-11-03T00:00:00` (no zone suffix).
pub(crate) fn write_datetime(out: &mut String, t: i64) {
    out.push_str(std::str::from_utf8(&fmt_datetime(t)).expect("ascii"));
}

/// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DDTHH:MM:SS` as 19 ASCII bytes, fast (used when serialising pages).
pub(crate) fn fmt_datetime(t: i64) -> [u8; 19] {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut b = *b"0000-00-00T00:00:00";
    let y = y.clamp(0, 9999) as u32;
    b[0] = b'0' + (y / 1000) as u8;
    b[1] = b'0' + (y / 100 % 10) as u8;
    b[2] = b'0' + (y / 10 % 10) as u8;
    b[3] = b'0' + (y % 10) as u8;
    let two = |b: &mut [u8; 19], i: usize, v: u32| {
        b[i] = b'0' + (v / 10) as u8;
        b[i + 1] = b'0' + (v % 10) as u8;
    };
    two(&mut b, 5, m);
    two(&mut b, 8, d);
    two(&mut b, 11, (secs / 3600) as u32);
    two(&mut b, 14, (secs / 60 % 60) as u32);
    two(&mut b, 17, (secs % 60) as u32);
    b
}
