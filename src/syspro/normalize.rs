//! Turns SYSPRO's records into what Snowflake receives: CHAR padding trimmed (syspro.md §5.8),
//! decimals exact (arbitrary-precision JSON numbers, never f64), datetimes as ISO text without a
//! zone and not shifted (syspro.md §5.4), OData annotations dropped.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use super::filter::is_plain_number;
use super::rows::Rows;
use super::schema::{Column, TableSchema};
use crate::watermark::format_naive;

/// SYSPRO's OData collection, normalised.
#[derive(Debug)]
pub struct Collection {
    pub rows: Rows,
    pub next_link: Option<String>,
    /// The zone suffix of the last date-time value read (`Z`, `+02:00`, or empty for none): the
    /// form `$filter` literals must take to denote the instants SYSPRO compares with.
    pub zone: Option<String>,
}

/// Normalises an OData collection answer (`{"value":[...]}`, or the v2 `{"d":...}` shapes,
/// syspro.md §1.3) straight into [`Rows`], reading SYSPRO's bytes once: no record becomes a map.
/// `watermark` names the column whose values [`Rows::watermark`] gives back. `Ok(None)` means
/// the answer is JSON but holds no collection.
pub fn transcode_collection(
    body: &[u8],
    schema: Option<&TableSchema>,
    watermark: Option<&str>,
) -> Result<Option<Collection>, serde_json::Error> {
    let mut t = Transcoder::new(schema, watermark);
    // Normalised rows are a little shorter than SYSPRO's: one allocation for the page.
    t.rows.buf.reserve(body.len());
    // Checked once here, so that serde_json need not check every string again.
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        // Cut off inside a character: what came is cut-off JSON, and fails as such (retried).
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&body[..e.valid_up_to()]).expect("valid up to there")
        }
        Err(e) => {
            return Err(de::Error::custom(format!(
                "SYSPRO's answer is not UTF-8 (at byte {})",
                e.valid_up_to()
            )));
        }
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let next_link = Body(&mut t).deserialize(&mut de)?;
    de.end()?;
    Ok(next_link.map(|next_link| Collection {
        rows: t.rows,
        next_link,
        zone: t.zone,
    }))
}

/// Where a page of SYSPRO's answer ends.
#[derive(Debug)]
pub struct PageEnd {
    pub records: usize,
    /// SYSPRO paged the answer (`@odata.nextLink`).
    pub more: bool,
    /// The last record, normalised.
    pub last: Option<Map<String, Value>>,
}

/// Reads how an OData v4 page ends (its record count, next link and last record) without
/// normalising every record: a few times faster than [`transcode_collection`], so that the
/// next page can be asked for before this one is normalised. `None` for anything else.
pub fn page_end(body: &[u8], schema: Option<&TableSchema>) -> Option<PageEnd> {
    #[derive(Deserialize)]
    struct Skim<'a> {
        #[serde(borrow)]
        value: Option<Vec<&'a RawValue>>,
        #[serde(rename = "@odata.nextLink")]
        next_link: Option<IgnoredAny>,
    }
    let skim: Skim = serde_json::from_str(std::str::from_utf8(body).ok()?).ok()?;
    let records = skim.value?;
    let last = match records.last() {
        Some(raw) => {
            let mut t = Transcoder::new(schema, None);
            Record(&mut t)
                .deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
                .ok()?;
            Some(t.rows.record(0))
        }
        None => None,
    };
    Some(PageEnd {
        records: records.len(),
        more: skim.next_link.is_some(),
        last,
    })
}

/// How a column's string values are normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    DateTime,
    Numeric,
    Text,
}

impl Kind {
    fn of(column: Option<&Column>) -> Kind {
        match column {
            Some(c) if matches!(c.edm_type.as_str(), "Edm.DateTimeOffset" | "Edm.DateTime") => {
                Kind::DateTime
            }
            Some(c) if c.is_numeric() => Kind::Numeric,
            _ => Kind::Text,
        }
    }
}

struct Transcoder<'s> {
    schema: Option<&'s TableSchema>,
    watermark: Option<&'s str>,
    /// The name at each position of the last record, and what it means: every record of a page
    /// has the same names in the same order, so each is looked up once per page, not per value.
    slots: Vec<Slot<'s>>,
    rows: Rows,
    /// See [`Collection::zone`].
    zone: Option<String>,
}

struct Slot<'s> {
    name: String,
    column: Option<&'s Column>,
    kind: Kind,
    /// `@odata.etag`, `Col@odata.type`: dropped.
    annotation: bool,
    /// The column whose values are marked.
    watermark: bool,
}

impl<'s> Slot<'s> {
    fn new(name: &str, schema: Option<&'s TableSchema>, watermark: Option<&str>) -> Self {
        let column = schema.and_then(|s| s.column(name));
        Slot {
            name: name.to_string(),
            column,
            kind: Kind::of(column),
            annotation: is_annotation(name),
            watermark: watermark == Some(name),
        }
    }
}

impl<'s> Transcoder<'s> {
    fn new(schema: Option<&'s TableSchema>, watermark: Option<&'s str>) -> Self {
        Transcoder {
            schema,
            watermark,
            slots: Vec::new(),
            rows: Rows::new(),
            zone: None,
        }
    }

    /// Writes one value normalised; true when it was written as a JSON string.
    fn write_value(
        &mut self,
        raw: &str,
        column: Option<&Column>,
        kind: Kind,
    ) -> Result<bool, serde_json::Error> {
        if kind == Kind::DateTime && raw.len() > 2 && raw.starts_with('"') {
            let inner = &raw[1..raw.len() - 1];
            if let Cow::Borrowed(wall) = zone_stripped(inner) {
                let zone = &inner[wall.len()..];
                if self.zone.as_deref() != Some(zone) {
                    self.zone = Some(zone.to_string());
                }
            }
        }
        let buf = &mut self.rows.buf;
        if !raw.starts_with('"') {
            // Numbers keep SYSPRO's digits exactly as sent; null, booleans and anything nested as is.
            buf.extend_from_slice(raw.as_bytes());
            return Ok(false);
        }
        let inner = &raw[1..raw.len() - 1];
        if inner.contains('\\') {
            // Escapes are rare in ERP data: decode, normalise and write it as serde_json would.
            let text: String = serde_json::from_str(raw)?;
            let value = normalize_value(column, Value::String(text));
            serde_json::to_writer(&mut *buf, &value)?;
            return Ok(value.is_string());
        }
        // Without escapes, SYSPRO's text is valid inside JSON quotes and so is any part of it.
        let quoted = |buf: &mut Vec<u8>, s: &str| {
            buf.push(b'"');
            buf.extend_from_slice(s.as_bytes());
            buf.push(b'"');
        };
        match kind {
            Kind::DateTime => {
                quoted(buf, &zone_stripped(inner));
                Ok(true)
            }
            Kind::Numeric if is_plain_number(inner.trim()) => {
                match inner.trim().parse::<Number>() {
                    Ok(n) => {
                        buf.extend_from_slice(n.as_str().as_bytes());
                        Ok(false)
                    }
                    Err(_) => {
                        buf.extend_from_slice(raw.as_bytes());
                        Ok(true)
                    }
                }
            }
            _ => {
                quoted(buf, inner.trim_end_matches(' '));
                Ok(true)
            }
        }
    }
}

/// A column name as it appears in the JSON: borrowed from SYSPRO's bytes unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The answer's top level: `value` (v4) wins over `d` (v2) whichever comes first.
/// Gives the next link when a collection was found.
struct Body<'a, 's>(&'a mut Transcoder<'s>);

impl<'de> DeserializeSeed<'de> for Body<'_, '_> {
    type Value = Option<Option<String>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Body<'_, '_> {
    type Value = Option<Option<String>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an OData collection")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut from_value = false;
        let mut next_link = None;
        let mut v2 = None;
        while let Some(key) = map.next_key::<Key>()? {
            match &*key.0 {
                "value" => from_value |= map.next_value_seed(Records(&mut *self.0))?,
                "@odata.nextLink" => next_link = map.next_value()?,
                "d" if !from_value => v2 = map.next_value_seed(V2(&mut *self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if from_value { Some(next_link) } else { v2 })
    }
}

/// `{"results":[...],"__next":"..."}` or a bare array; gives `__next` when rows were found.
struct V2<'a, 's>(&'a mut Transcoder<'s>);

impl<'de> DeserializeSeed<'de> for V2<'_, '_> {
    type Value = Option<Option<String>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for V2<'_, '_> {
    type Value = Option<Option<String>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an OData v2 collection")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Records(self.0).visit_seq(seq)?;
        Ok(Some(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = false;
        let mut next = None;
        while let Some(key) = map.next_key::<Key>()? {
            match &*key.0 {
                "results" => found |= map.next_value_seed(Records(&mut *self.0))?,
                "__next" => next = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found.then_some(next))
    }
}

/// An array of records, or null; true when it was an array. Replaces rows read before.
struct Records<'a, 's>(&'a mut Transcoder<'s>);

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let t = self.0;
        t.rows.clear();
        while seq.next_element_seed(Record(&mut *t))?.is_some() {}
        Ok(true)
    }
}

/// One record, written normalised as a compact JSON object.
struct Record<'a, 's>(&'a mut Transcoder<'s>);

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let t = self.0;
        t.rows.buf.push(b'{');
        let mut at_key = 0;
        let mut written = 0;
        let mut mark = None;
        let mut columns_changed = false;
        while let Some(key) = m.next_key::<Key<'de>>()? {
            let value: &'de RawValue = m.next_value()?;
            let name = &*key.0;
            if !matches!(t.slots.get(at_key), Some(slot) if slot.name == name) {
                columns_changed = true;
                let slot = Slot::new(name, t.schema, t.watermark);
                if at_key < t.slots.len() {
                    t.slots[at_key] = slot;
                } else {
                    t.slots.push(slot);
                }
            }
            let slot = &t.slots[at_key];
            at_key += 1;
            if slot.annotation {
                continue;
            }
            let (column, kind, watermark) = (slot.column, slot.kind, slot.watermark);
            if written > 0 {
                t.rows.buf.push(b',');
            }
            match &key.0 {
                Cow::Borrowed(plain) => {
                    t.rows.buf.push(b'"');
                    t.rows.buf.extend_from_slice(plain.as_bytes());
                    t.rows.buf.push(b'"');
                }
                Cow::Owned(escaped) => {
                    serde_json::to_writer(&mut t.rows.buf, escaped).map_err(de::Error::custom)?
                }
            }
            t.rows.buf.push(b':');
            let at = t.rows.buf.len();
            let string = t
                .write_value(value.get(), column, kind)
                .map_err(de::Error::custom)?;
            if string && watermark {
                mark = Some(at..t.rows.buf.len());
            }
            written += 1;
        }
        if columns_changed {
            // A map would keep one of two same-named values silently; Snowflake's PARSE_JSON
            // refuses such an object outright. Say which column SYSPRO repeated instead.
            let names: Vec<&str> = t.slots[..at_key]
                .iter()
                .filter(|s| !s.annotation)
                .map(|s| s.name.as_str())
                .collect();
            if let Some((i, _)) = names
                .iter()
                .enumerate()
                .find(|(i, name)| names[..*i].contains(name))
            {
                return Err(de::Error::custom(format!(
                    "a record names the column {:?} twice",
                    names[i]
                )));
            }
        }
        t.rows.buf.push(b'}');
        t.rows.end_row(mark);
        Ok(())
    }
}

fn is_annotation(name: &str) -> bool {
    name.starts_with('@') || name.contains("@odata.")
}

pub fn normalize_value(column: Option<&Column>, value: Value) -> Value {
    match value {
        Value::String(s) => match column.map(|c| c.edm_type.as_str()) {
            Some("Edm.DateTimeOffset") | Some("Edm.DateTime") => Value::String(strip_zone_owned(s)),
            // OData's IEEE754Compatible form sends decimals as strings; keep their digits as a number.
            Some(_) if column.is_some_and(Column::is_numeric) && is_plain_number(s.trim()) => s
                .trim()
                .parse::<Number>()
                .map(Value::Number)
                .unwrap_or(Value::String(s)),
            _ => Value::String(trim_padding(s)),
        },
        other => other,
    }
}

fn trim_padding(mut s: String) -> String {
    let keep = s.trim_end_matches(' ').len();
    s.truncate(keep);
    s
}

/// [`strip_zone`] reusing the string's buffer in the usual cases (`…Z`, `…+02:00`, no zone).
fn strip_zone_owned(mut s: String) -> String {
    match zone_stripped(&s) {
        Cow::Borrowed(prefix) => {
            let keep = prefix.len();
            s.truncate(keep);
            s
        }
        Cow::Owned(other) => other,
    }
}

/// [`strip_zone`] without a copy in the usual cases (`…Z`, `…+02:00`, no zone): then the
/// result is a prefix of `s`.
fn zone_stripped(s: &str) -> Cow<'_, str> {
    if s.trim().len() != s.len() || s.starts_with("/Date(") {
        return Cow::Owned(strip_zone(s));
    }
    let b = s.as_bytes();
    let n = b.len();
    if n > 19 {
        // Only ASCII bytes are compared, so the cut is on a character boundary.
        if b[n - 1] == b'Z' {
            return Cow::Borrowed(&s[..n - 1]);
        } else if n >= 25 && (b[n - 6] == b'+' || b[n - 6] == b'-') && b[n - 3] == b':' {
            return Cow::Borrowed(&s[..n - 6]);
        }
    }
    Cow::Borrowed(s)
}

/// `2026-11-03T00:00:00Z` or `…+02:00` → `2026-11-03T00:00:00`: the wall clock SYSPRO stored.
/// A v2-style `/Date(ms)/` becomes the same ISO form.
pub fn strip_zone(s: &str) -> String {
    let t = s.trim();
    if let Some(ms) = t.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let digits: String = ms
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        if let Some(dt) = digits
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
        {
            return format_naive(dt.naive_utc());
        }
    }
    if t.len() > 19 {
        if let Some(rest) = t.strip_suffix('Z') {
            return rest.to_string();
        }
        let b = t.as_bytes();
        let n = b.len();
        if n >= 25 && (b[n - 6] == b'+' || b[n - 6] == b'-') && b[n - 3] == b':' {
            return t[..n - 6].to_string();
        }
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;

    use super::*;

    fn schema() -> TableSchema {
        let col = |name: &str, ty: &str| Column {
            name: name.into(),
            edm_type: ty.into(),
            nullable: true,
            max_length: None,
            precision: None,
            scale: None,
        };
        TableSchema::new(
            "ApInvoice".into(),
            vec![
                col("Supplier", "Edm.String"),
                col("JournalDate", "Edm.DateTimeOffset"),
                col("OrigInvValue", "Edm.Decimal"),
                col("Updated", "Edm.DateTime"),
                col("Lines", "Edm.Int32"),
            ],
            vec![],
        )
    }

    /// The contract, record by record, on maps: what the transcoder must equal.
    fn reference(schema: Option<&TableSchema>, record: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, value) in record {
            if name.starts_with('@') || name.contains("@odata.") {
                continue;
            }
            let column = schema.and_then(|s| s.column(&name));
            let value = match (value, column.map(|c| c.edm_type.as_str())) {
                (Value::String(s), Some("Edm.DateTimeOffset" | "Edm.DateTime")) => {
                    Value::String(strip_zone(&s))
                }
                (v, _) => normalize_value(column, v),
            };
            out.insert(name, value);
        }
        out
    }

    /// Transcodes `{"value":[records]}` and checks every row against the reference.
    fn check_page(records: &[String]) -> Rows {
        let schema = schema();
        let body = format!(r#"{{"value":[{}]}}"#, records.join(","));
        let page = transcode_collection(body.as_bytes(), Some(&schema), Some("JournalDate"))
            .unwrap()
            .unwrap();
        assert_eq!(page.rows.len(), records.len());
        for (i, text) in records.iter().enumerate() {
            let raw: Map<String, Value> = serde_json::from_str(text).unwrap();
            let expected = reference(Some(&schema), raw);
            // Same values, same column order.
            assert_eq!(
                serde_json::to_string(&page.rows.record(i)).unwrap(),
                serde_json::to_string(&expected).unwrap(),
                "{text}"
            );
            assert_eq!(
                page.rows.watermark(i).as_deref(),
                expected.get("JournalDate").and_then(Value::as_str),
                "{text}"
            );
        }
        page.rows
    }

    #[test]
    fn records_come_out_as_the_contract_says() {
        let body = r#"{"value":[{"@odata.etag":"W/1","Supplier":"000123    ","JournalDate":"2026-11-03T00:00:00Z","OrigInvValue":12345678901.23,"Note":null}]}"#;
        let page = transcode_collection(body.as_bytes(), Some(&schema()), Some("JournalDate"))
            .unwrap()
            .unwrap();
        assert_eq!(
            std::str::from_utf8(page.rows.row(0)).unwrap(),
            r#"{"Supplier":"000123","JournalDate":"2026-11-03T00:00:00","OrigInvValue":12345678901.23,"Note":null}"#
        );
        assert_eq!(
            page.rows.watermark(0).as_deref(),
            Some("2026-11-03T00:00:00")
        );
    }

    #[test]
    fn decimals_sent_as_strings_keep_their_digits() {
        let body =
            br#"{"value":[{"OrigInvValue":"99999999999999.99","Lines":" 12 ","Supplier":"12.5"}]}"#;
        let page = transcode_collection(body, Some(&schema()), None)
            .unwrap()
            .unwrap();
        assert_eq!(
            std::str::from_utf8(page.rows.row(0)).unwrap(),
            r#"{"OrigInvValue":99999999999999.99,"Lines":12,"Supplier":"12.5"}"#
        );
    }

    #[test]
    fn zones_are_removed_not_applied() {
        assert_eq!(
            strip_zone("2026-11-03T10:00:00+02:00"),
            "2026-11-03T10:00:00"
        );
        assert_eq!(
            strip_zone("2026-11-03T10:00:00.123-05:00"),
            "2026-11-03T10:00:00.123"
        );
        assert_eq!(strip_zone("2026-11-03T10:00:00"), "2026-11-03T10:00:00");
        assert_eq!(strip_zone("/Date(1793664000000)/"), "2026-11-03T00:00:00");
    }

    #[test]
    fn pages_whose_columns_change_between_records_follow_them() {
        check_page(&[
            r#"{"Supplier":"A  ","JournalDate":"2026-11-03T00:00:00Z","OrigInvValue":"1.50"}"#.into(),
            r#"{"@odata.etag":"W/2","Supplier":"B ","JournalDate":"2026-11-04T10:00:00+02:00","OrigInvValue":2.00}"#.into(),
            r#"{"OrigInvValue":"3.25","Supplier":"C","JournalDate":" 2026-11-05T00:00:00Z "}"#.into(),
            r#"{"JOURNALDATE":"2026-11-06T00:00:00Z","Extra":"x  ","OrigInvValue@odata.type":"Edm.Decimal"}"#.into(),
            r#"{"Updated":"\/Date(1793664000000)\/","JournalDate":"2026-11-0\u0037T01:02:03Z","Supplier":"tab\there  ","Lines":"007"}"#.into(),
            r#"{"Supplier":"Åström\"s \\ ","OrigInvValue":"1e5","Lines":[1, {"a" : null}],"JournalDate":null}"#.into(),
            "{}".into(),
        ]);
    }

    #[test]
    fn a_page_end_is_its_last_record_normalised() {
        let body = br#"{"value":[{"Supplier":"A  ","JournalDate":"2026-11-03T00:00:00Z"},{"@odata.etag":"x","Supplier":"B  ","JournalDate":"2026-11-04T00:00:00+02:00","OrigInvValue":"1.50"}],"@odata.nextLink":"n"}"#;
        let end = page_end(body, Some(&schema())).unwrap();
        let full = transcode_collection(body, Some(&schema()), None)
            .unwrap()
            .unwrap();
        assert_eq!(end.records, 2);
        assert!(end.more);
        assert_eq!(end.last, Some(full.rows.record(1)));
        let last = page_end(br#"{"value":[]}"#, None).unwrap();
        assert_eq!((last.records, last.more, last.last), (0, false, None));
        for other in [&br#"{"d":[{"A":1}]}"#[..], br#"{"value":[{"A":1}"#, b"\xff"] {
            assert!(page_end(other, None).is_none());
        }
    }

    #[test]
    fn a_column_named_twice_is_refused_by_name() {
        let body = br#"{"value":[{"A":1,"B":2},{"A":1,"B":2,"A":3}]}"#;
        let e = transcode_collection(body, None, None).unwrap_err();
        assert!(e.to_string().contains("\"A\" twice"), "{e}");
    }

    #[test]
    fn collections_in_every_shape() {
        let v4 = br#"{"@odata.context":"x","value":[{"A":1}],"@odata.nextLink":"n"}"#;
        let c = transcode_collection(v4, None, None).unwrap().unwrap();
        assert_eq!((c.rows.len(), c.next_link.as_deref()), (1, Some("n")));
        let v2 = br#"{"d":{"results":[{"A":1},{"A":2}],"__next":"m"}}"#;
        let c = transcode_collection(v2, None, None).unwrap().unwrap();
        assert_eq!((c.rows.len(), c.next_link.as_deref()), (2, Some("m")));
        for bare in [
            &br#"{"d":[{"A":1}]}"#[..],
            br#"{"value":null,"d":[{"A":1}]}"#,
            br#"{"d":[{"A":1},{"A":2}],"value":[{"A":1}]}"#,
            br#"{"value":[{"A":1}],"d":[{"A":1},{"A":2}]}"#,
        ] {
            let c = transcode_collection(bare, None, None).unwrap().unwrap();
            assert_eq!(c.rows.len(), 1, "{}", String::from_utf8_lossy(bare));
        }
        for nothing in [
            &b"{}"[..],
            br#"{"d":null}"#,
            br#"{"d":{"x":1}}"#,
            br#"{"value":null}"#,
        ] {
            assert!(transcode_collection(nothing, None, None).unwrap().is_none());
        }
        for bad in [
            &br#"{"value":{"A":1}}"#[..],
            br#"{"value":[1]}"#,
            br#"{"value":[]} x"#,
            b"<html>",
        ] {
            assert!(transcode_collection(bad, None, None).is_err());
        }
        let cut = transcode_collection(br#"{"value":[{"A":1},{"A""#, None, None).unwrap_err();
        assert!(cut.is_eof());
        // Cut inside a two-byte character: still a cut-off answer, retried as one.
        let body = r#"{"value":[{"A":"Åström"}]}"#.as_bytes();
        let cut = transcode_collection(&body[..body.len() - 10 - 1], None, None).unwrap_err();
        assert!(cut.is_eof(), "{cut}");
        let not_utf8 =
            transcode_collection(b"{\"value\":[{\"A\":\"\xff\"}]}", None, None).unwrap_err();
        assert!(
            !not_utf8.is_eof() && not_utf8.to_string().contains("not UTF-8"),
            "{not_utf8}"
        );
        assert!(
            transcode_collection(br#"{"value":[]}"#, None, None)
                .unwrap()
                .unwrap()
                .rows
                .is_empty()
        );
    }

    proptest::proptest! {
        #[test]
        fn zones_are_stripped_the_same_in_place(s in "\\PC{0,30}|[ ]?2026-11-0[1-9]T[0-2][0-9]:00:00(\\.[0-9]{1,3})?(Z|[+-][0-9]{2}:[0-9]{2})?[ ]?|/Date\\([0-9]{1,13}\\)/") {
            proptest::prop_assert_eq!(strip_zone_owned(s.clone()), strip_zone(&s));
        }

        /// Any page of records, every column type and string form: the transcoder equals the
        /// map-based reference.
        #[test]
        fn transcoding_equals_normalising_maps(
            records in proptest::collection::vec(
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec!["Supplier", "JournalDate", "OrigInvValue", "Updated", "Lines", "Other", "X@odata.type", "@odata.etag", "Sup\\u0070lier"]),
                        proptest::prop_oneof![
                            "\\PC{0,12}[ ]{0,3}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                            "[ ]?2026-11-0[1-9]T[0-2][0-9]:00:00(\\.[0-9]{1,3})?(Z|[+-][0-9]{2}:[0-9]{2})?[ ]?".prop_map(|s| serde_json::to_string(&s).unwrap()),
                            "[ ]?-?[0-9]{1,16}(\\.[0-9]{1,6})?[ ]?".prop_map(|s| serde_json::to_string(&s).unwrap()),
                            "-?[1-9][0-9]{0,19}(\\.[0-9]{1,8})?".prop_map(String::from),
                            "[a-z\"\\\\/\\x00-\\x1f ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                            proptest::strategy::Just("null".to_string()),
                            proptest::strategy::Just("true".to_string()),
                            proptest::strategy::Just("\"\\/Date(1793664000000)\\/\"".to_string()),
                            proptest::strategy::Just("[1, {\"a\" : \"b  \"}]".to_string()),
                        ],
                    ),
                    0..6,
                ),
                0..6,
            )
        ) {
            let texts: Vec<String> = records
                .iter()
                .map(|fields| {
                    // Repeated names are refused (tested above); keep the first of each.
                    let mut seen = std::collections::HashSet::new();
                    let parts: Vec<String> = fields
                        .iter()
                        .filter(|(k, _)| seen.insert(serde_json::from_str::<String>(&format!("\"{k}\"")).unwrap()))
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{{}}}", parts.join(","))
                })
                .collect();
            check_page(&texts);
        }
    }

    #[test]
    fn leading_spaces_and_inner_spaces_stay() {
        assert_eq!(trim_padding("  A  B   ".into()), "  A  B");
    }
}
