//! A page's rows as compact JSON objects back to back in one buffer. SYSPRO's answer is
//! normalised straight into this form (`normalize::transcode_collection`) and the rows are then
//! copied into answers as bytes: a page is never held as a tree of maps, which cost
//! most of the service's CPU and memory per row (BENCHMARKS.md).

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rows {
    /// Every row's JSON object, one after the other, no separators. Always UTF-8.
    pub(crate) buf: Vec<u8>,
    /// Where each row ends in `buf`.
    pub(crate) ends: Vec<usize>,
    /// Each row's watermark value (a JSON string token) in `buf`, when it has one.
    pub(crate) watermarks: Vec<Option<Range<usize>>>,
}

impl Rows {
    pub fn new() -> Self {
        Rows::default()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.ends[i - 1] }
    }

    /// Row `i` as compact JSON.
    pub fn row(&self, i: usize) -> &[u8] {
        &self.buf[self.start(i)..self.ends[i]]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// Row `i` as a map, for the few callers that look inside rows (keys, reconciliation).
    pub fn record(&self, i: usize) -> Map<String, Value> {
        serde_json::from_slice(self.row(i)).expect("rows hold JSON objects")
    }

    /// The text of row `i`'s watermark column, if it is a string.
    pub fn watermark(&self, i: usize) -> Option<Cow<'_, str>> {
        let token = &self.buf[self.watermarks[i].clone()?];
        let inner = &token[1..token.len() - 1];
        if inner.contains(&b'\\') {
            serde_json::from_slice::<String>(token).ok().map(Cow::Owned)
        } else {
            std::str::from_utf8(inner).ok().map(Cow::Borrowed)
        }
    }

    /// Appends a record serialised as serde_json does, marking its `watermark` column.
    pub fn push_map(&mut self, record: &Map<String, Value>, watermark: Option<&str>) {
        self.buf.push(b'{');
        let mut mark = None;
        for (i, (name, value)) in record.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            serde_json::to_writer(&mut self.buf, name).expect("writing to a Vec cannot fail");
            self.buf.push(b':');
            let at = self.buf.len();
            serde_json::to_writer(&mut self.buf, value).expect("writing to a Vec cannot fail");
            if value.is_string() && watermark == Some(name.as_str()) {
                mark = Some(at..self.buf.len());
            }
        }
        self.buf.push(b'}');
        self.end_row(mark);
    }

    /// Closes the row written into `buf` since the last one ended.
    pub(crate) fn end_row(&mut self, watermark: Option<Range<usize>>) {
        self.ends.push(self.buf.len());
        self.watermarks.push(watermark);
    }

    /// Appends rows `range` of `other`, watermark marks included.
    pub fn extend_from(&mut self, other: &Rows, range: Range<usize>) {
        for i in range {
            let start = other.start(i);
            let at = self.buf.len();
            self.buf.extend_from_slice(other.row(i));
            let mark = other.watermarks[i]
                .clone()
                .map(|w| w.start - start + at..w.end - start + at);
            self.end_row(mark);
        }
    }

    /// Drops every row, keeping the buffer's capacity.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.buf.truncate(self.start(n));
            self.ends.truncate(n);
            self.watermarks.truncate(n);
        }
    }

    /// Drops the first `n` rows (rows of a SYSPRO page an earlier answer already returned).
    pub fn remove_front(&mut self, n: usize) {
        let n = n.min(self.len());
        if n == 0 {
            return;
        }
        let cut = self.start(n);
        self.buf.drain(..cut);
        self.ends.drain(..n);
        self.watermarks.drain(..n);
        for end in &mut self.ends {
            *end -= cut;
        }
        for span in self.watermarks.iter_mut().flatten() {
            *span = span.start - cut..span.end - cut;
        }
    }

    /// Writes the rows as a JSON array.
    pub fn write_array(&self, out: &mut Vec<u8>) {
        out.reserve(self.buf.len() + self.len() + 2);
        out.push(b'[');
        for (i, row) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(row);
        }
        out.push(b']');
    }
}

impl FromIterator<Map<String, Value>> for Rows {
    fn from_iter<I: IntoIterator<Item = Map<String, Value>>>(iter: I) -> Self {
        let mut rows = Rows::new();
        for record in iter {
            rows.push_map(&record, None);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn rows_keep_records_and_their_watermarks() {
        let records = [
            r#"{"K":"a","W":"2026-11-01T00:00:00","V":1.50}"#,
            r#"{"K":"b\"q","W":null,"V":2}"#,
            r#"{"K":"c","W":"2026-11-0\u0033T00:00:00","V":[1,{"x":null}]}"#,
        ];
        let mut rows = Rows::new();
        for r in records {
            rows.push_map(&map(r), Some("W"));
        }
        assert_eq!(rows.len(), 3);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(rows.record(i), map(r));
            assert_eq!(rows.row(i), serde_json::to_vec(&map(r)).unwrap().as_slice());
        }
        assert_eq!(rows.watermark(0).as_deref(), Some("2026-11-01T00:00:00"));
        assert_eq!(rows.watermark(1), None);
        assert_eq!(rows.watermark(2).as_deref(), Some("2026-11-03T00:00:00"));

        let mut array = Vec::new();
        rows.write_array(&mut array);
        let expected: Vec<Value> = records.iter().map(|r| Value::Object(map(r))).collect();
        assert_eq!(
            serde_json::from_slice::<Value>(&array).unwrap(),
            Value::Array(expected.clone())
        );

        let mut front = rows.clone();
        front.remove_front(2);
        assert_eq!(front.len(), 1);
        assert_eq!(front.record(0), map(records[2]));
        assert_eq!(front.watermark(0).as_deref(), Some("2026-11-03T00:00:00"));

        rows.truncate(1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.record(0), map(records[0]));
        let mut one = Vec::new();
        rows.write_array(&mut one);
        assert_eq!(one, format!("[{}]", records[0]).into_bytes());

        let none = Rows::new();
        none.write_array(&mut one);
        assert!(one.ends_with(b"[]"));
    }
}
