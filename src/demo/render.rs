//! Plain-text tables for the terminal: a header, a rule, aligned columns.

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct TextTable {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
    /// Rows after which a blank separator line goes (e.g. a total row).
    rules_before: Vec<usize>,
}

impl TextTable {
    pub fn new(headers: &[(&str, Align)]) -> Self {
        TextTable {
            headers: headers.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
            rules_before: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A rule line before the next row (e.g. before a total).
    pub fn rule(&mut self) {
        self.rules_before.push(self.rows.len());
    }

    pub fn render(&self, indent: usize) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(c));
            }
        }
        let pad = " ".repeat(indent);
        let line = |cells: &[String]| -> String {
            let mut out = pad.clone();
            for (i, (_, align)) in self.headers.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let fill = " ".repeat(widths[i].saturating_sub(width(c)));
                if i > 0 {
                    out.push_str("  ");
                }
                match align {
                    Align::Left => {
                        out.push_str(c);
                        if i + 1 < n {
                            out.push_str(&fill);
                        }
                    }
                    Align::Right => {
                        out.push_str(&fill);
                        out.push_str(c);
                    }
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let total: usize = widths.iter().sum::<usize>() + 2 * n.saturating_sub(1);
        let rule = format!("{pad}{}\n", "─".repeat(total));
        let mut out = line(
            &self
                .headers
                .iter()
                .map(|(h, _)| h.clone())
                .collect::<Vec<_>>(),
        );
        out.push_str(&rule);
        for (i, r) in self.rows.iter().enumerate() {
            if self.rules_before.contains(&i) {
                out.push_str(&rule);
            }
            out.push_str(&line(r));
        }
        out
    }
}

/// Display width: characters, which is right for the Latin text the demo prints.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `1234567.891` → `1,234,567.89` (two decimals, thousands separated).
pub fn money(cents: i128) -> String {
    let neg = cents < 0;
    let c = cents.unsigned_abs();
    let units = group(c / 100);
    format!("{}{units}.{:02}", if neg { "-" } else { "" }, c % 100)
}

/// Thousands-separated integer.
pub fn count(n: u64) -> String {
    group(n as u128)
}

fn group(mut n: u128) -> String {
    let mut parts = Vec::new();
    loop {
        if n < 1000 {
            parts.push(n.to_string());
            break;
        }
        parts.push(format!("{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join(",")
}

/// Cuts text to `max` characters with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(money(123456789), "1,234,567.89");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(100000), "1,000.00");
        assert_eq!(count(1500), "1,500");
        assert_eq!(count(7), "7");
    }

    #[test]
    fn tables_align() {
        let mut t = TextTable::new(&[("name", Align::Left), ("n", Align::Right)]);
        t.row(vec!["Müller".into(), "1".into()]);
        t.row(vec!["a".into(), "100".into()]);
        let s = t.render(2);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "  name      n");
        assert_eq!(lines[2], "  Müller    1");
        assert_eq!(lines[3], "  a       100");
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
