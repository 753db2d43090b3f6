//! OData v4 `$filter`: a recursive-descent parser and an evaluator over the
//! compact row store.
//!
//! Grammar (precedence low to high): `or`, `and`, `not`, comparison
//! (`eq ne gt ge lt le`), primary (parenthesised expression, property,
//! literal, `startswith/endswith/contains(Prop,'x')`).
//!
//! Literals: `'text'` (`''` escapes a quote), integers/decimals, `null`,
//! `true/false`, dates `2026-11-01`, date-time-offsets `2026-11-01T00:00:00Z`,
//! `...+02:00`, with fractional seconds. Date-time literals in v4 have no
//! quotes or `datetime'...'` prefix (syspro.md §1.3).
//!
//! Semantics: strings compare after trimming trailing spaces, then by bytes
//! (SQL Server ANSI padding with the binary collation of syspro.md §3 notes);
//! decimals compare exactly; date-times chronologically (a literal's offset is
//! applied, stored values are UTC-naive). Null follows OData: `eq null` is
//! true for nulls, any other comparison with null is false except `ne`.

use std::cmp::Ordering;

use crate::schema::{ColType, TableDef};
use crate::store::{NULL, Table, cmp_str};

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Str(String),
    /// exact decimal: mantissa and scale
    Num(i128, u32),
    /// seconds since epoch (UTC) and nanoseconds
    Dt(i64, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn flip(self) -> Op {
        match self {
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            o => o,
        }
    }
    fn test(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Prop(String),
    Lit(Lit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFn {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Not(Box<Ast>),
    Cmp(Operand, Op, Operand),
    Func(StrFn, String, String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Ident(String),
    Str(String),
    /// number, date or date-time text
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b'\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(ch) = s[i..].chars().next() else {
                        return Err("unterminated string literal".into());
                    };
                    if ch == '\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            v.push('\'');
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    v.push(ch);
                    i += ch.len_utf8();
                }
                out.push(Tok::Str(v));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let st = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Ident(s[st..i].to_string()));
            }
            c if c.is_ascii_digit() || c == b'-' || c == b'+' => {
                let st = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b':' | b'-' | b'+'))
                {
                    i += 1;
                }
                out.push(Tok::Word(s[st..i].to_string()));
            }
            _ => {
                return Err(format!(
                    "syntax error at position {i} in $filter: unexpected '{}'",
                    &s[i..].chars().next().unwrap_or(' ')
                ));
            }
        }
    }
    Ok(out)
}

fn parse_word(w: &str, offset_secs: i64) -> Result<Lit, String> {
    let bad = || format!("invalid literal '{w}' in $filter");
    if w.contains('T') {
        // Edm.DateTimeOffset; OData allows omitting seconds
        let with_secs;
        let text =
            if w.len() >= 16 && w.as_bytes().get(16) != Some(&b':') && w.as_bytes()[13] == b':' {
                with_secs = format!("{}:00{}", &w[..16], &w[16..]);
                with_secs.as_str()
            } else {
                w
            };
        let dt = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| bad())?;
        let utc = dt.with_timezone(&chrono::Utc);
        // Stored values are the site's wall clock: the instant, seen on that clock.
        return Ok(Lit::Dt(
            utc.timestamp() + offset_secs,
            utc.timestamp_subsec_nanos(),
        ));
    }
    if w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-' {
        let d = chrono::NaiveDate::parse_from_str(w, "%Y-%m-%d").map_err(|_| bad())?;
        return Ok(Lit::Dt(crate::store::date_to_secs(d), 0));
    }
    parse_decimal(w).ok_or_else(bad)
}

/// Exact decimal text -> (mantissa, scale). Accepts an optional `m`/`M` suffix (v3 style).
pub(crate) fn parse_decimal(w: &str) -> Option<Lit> {
    let w = w.strip_suffix(['m', 'M']).unwrap_or(w);
    let (neg, digits) = match w.as_bytes().first()? {
        b'-' => (true, &w[1..]),
        b'+' => (false, &w[1..]),
        _ => (false, w),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((a, b)) => (a, b),
        None => (digits, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    if digits.contains('.') && frac.is_empty() {
        return None;
    }
    if int.len() + frac.len() > 36 {
        return None;
    }
    let m: i128 = format!("{int}{frac}").parse().ok()?;
    Some(Lit::Num(if neg { -m } else { m }, frac.len() as u32))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Added to date-time literals: the site's offset from UTC (stored values are its wall clock).
    offset_secs: i64,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }
    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Ast, String> {
        let mut l = self.and()?;
        while self.peek_kw("or") {
            self.pos += 1;
            let r = self.and()?;
            l = Ast::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Ast, String> {
        let mut l = self.unary()?;
        while self.peek_kw("and") {
            self.pos += 1;
            let r = self.unary()?;
            l = Ast::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Ast, String> {
        if self.peek_kw("not") {
            self.pos += 1;
            return Ok(Ast::Not(Box::new(self.unary()?)));
        }
        self.comparison()
    }
    fn comparison(&mut self) -> Result<Ast, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            if self.bump() != Some(Tok::RParen) {
                return Err("expected ')' in $filter".into());
            }
            return Ok(e);
        }
        // function call
        if let (Some(Tok::Ident(name)), Some(Tok::LParen)) =
            (self.toks.get(self.pos), self.toks.get(self.pos + 1))
        {
            let f = match name.as_str() {
                "startswith" => StrFn::StartsWith,
                "endswith" => StrFn::EndsWith,
                "contains" => StrFn::Contains,
                other => return Err(format!("unknown function '{other}' in $filter")),
            };
            self.pos += 2;
            let prop = match self.bump() {
                Some(Tok::Ident(p)) => p,
                _ => return Err("expected a property as first function argument".into()),
            };
            if self.bump() != Some(Tok::Comma) {
                return Err("expected ',' in function call".into());
            }
            let arg = match self.bump() {
                Some(Tok::Str(s)) => s,
                _ => return Err("expected a string literal as second function argument".into()),
            };
            if self.bump() != Some(Tok::RParen) {
                return Err("expected ')' after function arguments".into());
            }
            return Ok(Ast::Func(f, prop, arg));
        }
        let l = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Ident(s)) => match s.as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => return Err(format!("expected a comparison operator, found '{other}'")),
            },
            None => {
                if let Operand::Lit(Lit::Bool(b)) = l {
                    return Ok(Ast::Bool(b));
                }
                return Err("expected a comparison operator at end of $filter".into());
            }
            Some(t) => return Err(format!("expected a comparison operator, found {t:?}")),
        };
        self.pos += 1;
        let r = self.operand()?;
        Ok(Ast::Cmp(l, op, r))
    }
    fn operand(&mut self) -> Result<Operand, String> {
        match self.bump() {
            Some(Tok::Str(s)) => Ok(Operand::Lit(Lit::Str(s))),
            Some(Tok::Word(w)) => Ok(Operand::Lit(parse_word(&w, self.offset_secs)?)),
            Some(Tok::Ident(i)) => Ok(match i.as_str() {
                "null" => Operand::Lit(Lit::Null),
                "true" => Operand::Lit(Lit::Bool(true)),
                "false" => Operand::Lit(Lit::Bool(false)),
                "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" => {
                    return Err(format!("unexpected keyword '{i}' in $filter"));
                }
                _ => Operand::Prop(i),
            }),
            Some(t) => Err(format!("unexpected token {t:?} in $filter")),
            None => Err("unexpected end of $filter".into()),
        }
    }
}

pub fn parse(s: &str) -> Result<Ast, String> {
    parse_at_offset(s, 0)
}

/// [`parse`] for a site whose stored date-times are wall clock at `offset_secs` east of UTC:
/// date-time literals (which carry a zone) are compared as instants.
pub fn parse_at_offset(s: &str, offset_secs: i64) -> Result<Ast, String> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err("empty $filter".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        offset_secs,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {:?} in $filter", p.toks[p.pos]));
    }
    Ok(e)
}

/// A filter bound to a table's columns.
#[derive(Debug, Clone)]
pub enum Pred {
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    Const(bool),
    IsNull(usize, bool),
    Str(usize, Op, String),
    /// column, op, literal mantissa, literal scale, column scale
    Num(usize, Op, i128, u32, u32),
    Dt(usize, Op, i64, u32),
    Func(usize, StrFn, String),
}

pub fn compile(ast: &Ast, def: &TableDef) -> Result<Pred, String> {
    Ok(match ast {
        Ast::And(a, b) => Pred::And(Box::new(compile(a, def)?), Box::new(compile(b, def)?)),
        Ast::Or(a, b) => Pred::Or(Box::new(compile(a, def)?), Box::new(compile(b, def)?)),
        Ast::Not(a) => Pred::Not(Box::new(compile(a, def)?)),
        Ast::Bool(b) => Pred::Const(*b),
        Ast::Func(f, prop, arg) => {
            let c = col(def, prop)?;
            if !def.cols[c].ty.is_str() {
                return Err(format!(
                    "function argument '{prop}' must be of type Edm.String"
                ));
            }
            Pred::Func(c, *f, arg.clone())
        }
        Ast::Cmp(l, op, r) => {
            let (prop, op, lit) = match (l, r) {
                (Operand::Prop(p), Operand::Lit(v)) => (p, *op, v),
                (Operand::Lit(v), Operand::Prop(p)) => (p, op.flip(), v),
                (Operand::Prop(_), Operand::Prop(_)) => {
                    return Err("comparing two properties is not supported".into());
                }
                (Operand::Lit(_), Operand::Lit(_)) => {
                    return Err("a comparison needs a property".into());
                }
            };
            let c = col(def, prop)?;
            let ty = def.cols[c].ty;
            match lit {
                Lit::Null => match op {
                    Op::Eq => Pred::IsNull(c, true),
                    Op::Ne => Pred::IsNull(c, false),
                    _ => Pred::Const(false),
                },
                Lit::Str(s) if ty.is_str() => Pred::Str(c, op, s.clone()),
                Lit::Num(m, sc) if matches!(ty, ColType::Dec(..) | ColType::Int) => {
                    let cs = match ty {
                        ColType::Dec(_, s) => s as u32,
                        _ => 0,
                    };
                    Pred::Num(c, op, *m, *sc, cs)
                }
                Lit::Dt(t, n) if ty == ColType::DateTime => Pred::Dt(c, op, *t, *n),
                other => {
                    return Err(format!(
                        "a literal {other:?} cannot be compared with property '{prop}' of type {}",
                        ty.edm()
                    ));
                }
            }
        }
    })
}

fn col(def: &TableDef, prop: &str) -> Result<usize, String> {
    def.col(prop).ok_or_else(|| {
        format!(
            "Could not find a property named '{prop}' on type 'SYSPRO.{}'.",
            def.name
        )
    })
}

fn cmp_num(cell: i64, cs: u32, m: i128, ls: u32) -> Ordering {
    let a = cell as i128;
    if ls <= cs {
        match m.checked_mul(10i128.pow(cs - ls)) {
            Some(b) => a.cmp(&b),
            None => 0.cmp(&m),
        }
    } else {
        match a.checked_mul(10i128.pow((ls - cs).min(38))) {
            Some(a) => a.cmp(&m),
            None => a.cmp(&0),
        }
    }
}

impl Pred {
    pub fn eval(&self, t: &Table, r: usize) -> bool {
        match self {
            Pred::And(a, b) => a.eval(t, r) && b.eval(t, r),
            Pred::Or(a, b) => a.eval(t, r) || b.eval(t, r),
            Pred::Not(a) => !a.eval(t, r),
            Pred::Const(b) => *b,
            Pred::IsNull(c, want) => (t.cell(r, *c) == NULL) == *want,
            Pred::Str(c, op, s) => {
                let cell = t.cell(r, *c);
                if cell == NULL {
                    return *op == Op::Ne;
                }
                op.test(cmp_str(t.get_str(cell), s))
            }
            Pred::Num(c, op, m, ls, cs) => {
                let cell = t.cell(r, *c);
                if cell == NULL {
                    return *op == Op::Ne;
                }
                op.test(cmp_num(cell as i64, *cs, *m, *ls))
            }
            Pred::Dt(c, op, secs, nanos) => {
                let cell = t.cell(r, *c);
                if cell == NULL {
                    return *op == Op::Ne;
                }
                op.test((cell as i64, 0u32).cmp(&(*secs, *nanos)))
            }
            Pred::Func(c, f, arg) => {
                let cell = t.cell(r, *c);
                if cell == NULL {
                    return false;
                }
                let v = t.get_str(cell);
                match f {
                    StrFn::StartsWith => v.starts_with(arg.as_str()),
                    StrFn::EndsWith => v.trim_end_matches(' ').ends_with(arg.as_str()),
                    StrFn::Contains => v.contains(arg.as_str()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ast {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn literals() {
        assert_eq!(
            p("Supplier eq 'O''Brien'"),
            Ast::Cmp(
                Operand::Prop("Supplier".into()),
                Op::Eq,
                Operand::Lit(Lit::Str("O'Brien".into()))
            )
        );
        assert_eq!(
            p("OrigInvValue ge 12345678901.23"),
            Ast::Cmp(
                Operand::Prop("OrigInvValue".into()),
                Op::Ge,
                Operand::Lit(Lit::Num(1_234_567_890_123, 2))
            )
        );
        let d = crate::store::date_to_secs(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(
            p("JournalDate lt 2026-11-01"),
            Ast::Cmp(
                Operand::Prop("JournalDate".into()),
                Op::Lt,
                Operand::Lit(Lit::Dt(d, 0))
            )
        );
        assert_eq!(
            p("JournalDate lt 2026-11-01T00:00:00Z"),
            p("JournalDate lt 2026-11-01T02:00:00+02:00")
        );
        assert_eq!(
            p("JournalDate lt 2026-11-01T00:00:00.5Z"),
            Ast::Cmp(
                Operand::Prop("JournalDate".into()),
                Op::Lt,
                Operand::Lit(Lit::Dt(d, 500_000_000))
            )
        );
        assert_eq!(
            p("JournalDate lt 2026-11-01T00:00Z"),
            p("JournalDate lt 2026-11-01T00:00:00Z")
        );
        assert_eq!(
            p("-5 lt X"),
            Ast::Cmp(
                Operand::Lit(Lit::Num(-5, 0)),
                Op::Lt,
                Operand::Prop("X".into())
            )
        );
        assert_eq!(
            p("X eq null"),
            Ast::Cmp(Operand::Prop("X".into()), Op::Eq, Operand::Lit(Lit::Null))
        );
        assert_eq!(
            p("Name eq 'Müller'"),
            Ast::Cmp(
                Operand::Prop("Name".into()),
                Op::Eq,
                Operand::Lit(Lit::Str("Müller".into()))
            )
        );
    }

    #[test]
    fn precedence_and_brackets() {
        // and binds tighter than or
        let a = p("A eq 1 or B eq 2 and C eq 3");
        assert!(matches!(a, Ast::Or(_, ref r) if matches!(**r, Ast::And(..))));
        let b = p("(A eq 1 or B eq 2) and C eq 3");
        assert!(matches!(b, Ast::And(ref l, _) if matches!(**l, Ast::Or(..))));
        let c = p("not (A eq 1) and B eq 2");
        assert!(matches!(c, Ast::And(ref l, _) if matches!(**l, Ast::Not(..))));
        p("(((A eq 1)))");
        p("startswith(Supplier,'AC') and contains(Name, 'ü')");
    }

    #[test]
    fn keyset_filter_parses() {
        let a = p(
            "(JournalDate gt 2026-11-01T00:00:00Z) or (JournalDate eq 2026-11-01T00:00:00Z and (Supplier gt 'ACME' or (Supplier eq 'ACME' and Invoice gt '000123')))",
        );
        assert!(matches!(a, Ast::Or(..)));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "A eq",
            "A eq 'x",
            "A eq 1)",
            "(A eq 1",
            "A equals 1",
            "A eq 2026-13-01",
            "A eq 2026-11-01T25:00:00Z",
            "A eq 1.",
            "A eq 1..2",
            "and eq 1",
            "A eq 1 B eq 2",
            "A eq #",
            "foo(A,'x')",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn evaluation_on_table() {
        let def = crate::schema::def("ApInvoice");
        let st = crate::data::State::generate(
            7,
            "EDU1",
            crate::CompanyProfile::Za,
            Some(300),
            Vec::new(),
        );
        let t = &st.tables[crate::schema::table_index("ApInvoice").unwrap()];
        let count = |f: &str| {
            let pred = compile(&parse(f).unwrap(), def).unwrap_or_else(|e| panic!("{f}: {e}"));
            (0..t.len()).filter(|&r| pred.eval(t, r)).count()
        };
        let n = t.len();
        assert_eq!(count("Supplier eq 'ACME'") + count("Supplier ne 'ACME'"), n);
        // CHAR padding is ignored in comparisons
        assert_eq!(
            count("Supplier eq 'ACME'"),
            count("Supplier eq 'ACME     '")
        );
        assert!(count("Supplier eq 'ACME'") >= 1);
        assert_eq!(count("OrigInvValue eq 12345678901.23"), 1);
        assert_eq!(count("OrigInvValue eq 12345678901.230"), 1);
        assert_eq!(count("OrigInvValue eq 12345678901.2"), 0);
        assert_eq!(count("Reference eq null") + count("Reference ne null"), n);
        assert_eq!(count("not (Reference eq null)"), count("Reference ne null"));
        assert_eq!(
            count("JournalDate ge 2026-10-01"),
            count("JournalDate ge 2026-10-01T00:00:00Z")
        );
        assert_eq!(
            count("JournalDate gt 2026-10-01T00:00:00Z"),
            count("JournalDate ge 2026-10-01T00:00:00.001Z")
        );
        let lo = count("JournalDate lt 2026-10-01");
        let hi = count("JournalDate ge 2026-10-01");
        assert_eq!(lo + hi, n);
        // keyset filter: rows strictly after a key position
        let ks = count(
            "(JournalDate gt 2026-11-01T00:00:00Z) or (JournalDate eq 2026-11-01T00:00:00Z and (Supplier gt 'ACME' or (Supplier eq 'ACME' and Invoice gt '000123')))",
        );
        assert!(ks > 0 && ks <= count("JournalDate ge 2026-11-01"));
        for bad in [
            "Nope eq 1",
            "Supplier eq 1",
            "OrigInvValue eq 'x'",
            "JournalDate eq 'x'",
            "Supplier eq Invoice",
        ] {
            assert!(compile(&parse(bad).unwrap(), def).is_err(), "{bad}");
        }
    }
}
