//! Reads OData `$metadata` (CSDL XML) into table schemas. SYSPRO's exact Edm types are
//! UNCONFIRMED (syspro.md §1.3), so the client takes them from here instead of assuming.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::schema::{Column, TableSchema};

/// Entity sets by lower-cased name.
#[derive(Debug, Default)]
pub struct Metadata {
    sets: HashMap<String, TableSchema>,
}

impl Metadata {
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.sets.get(&name.to_ascii_lowercase())
    }

    pub fn entity_sets(&self) -> impl Iterator<Item = &str> {
        self.sets.values().map(|s| s.entity_set.as_str())
    }
}

/// Parses CSDL 4.0. Unknown elements are skipped; a document with no entity types is an error.
pub fn parse_metadata(xml: &str) -> Result<Metadata, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut types: HashMap<String, (Vec<Column>, Vec<String>)> = HashMap::new();
    let mut sets: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, Vec<Column>, Vec<String>)> = None;
    let mut in_key = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("$metadata is not well-formed XML: {e}"))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let attr = |name: &str| -> Option<String> {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == name.as_bytes())
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                };
                match local.as_ref() {
                    b"EntityType" if !is_empty => {
                        current = Some((attr("Name").unwrap_or_default(), Vec::new(), Vec::new()));
                    }
                    b"Key" if !is_empty => in_key = true,
                    b"PropertyRef" if in_key => {
                        if let (Some(cur), Some(n)) = (current.as_mut(), attr("Name")) {
                            cur.2.push(n);
                        }
                    }
                    b"Property" => {
                        if let Some(cur) = current.as_mut() {
                            let num = |n: &str| attr(n).and_then(|v| v.parse::<u32>().ok());
                            cur.1.push(Column {
                                name: attr("Name").unwrap_or_default(),
                                edm_type: attr("Type").unwrap_or_else(|| "Edm.String".into()),
                                nullable: attr("Nullable").map(|v| v != "false").unwrap_or(true),
                                max_length: num("MaxLength"),
                                precision: num("Precision"),
                                scale: num("Scale"),
                            });
                        }
                    }
                    b"EntitySet" => {
                        if let (Some(name), Some(ty)) = (attr("Name"), attr("EntityType")) {
                            let short = ty.rsplit('.').next().unwrap_or(&ty).to_string();
                            sets.push((name, short));
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"EntityType" => {
                    if let Some((name, cols, keys)) = current.take() {
                        types.insert(name, (cols, keys));
                    }
                }
                b"Key" => in_key = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if types.is_empty() {
        return Err(
            "$metadata declares no entity types: is MLC_SYSPRO__ODATA_URL the OData service base?"
                .into(),
        );
    }
    let mut out = Metadata::default();
    // Services without an EntityContainer still name entity sets after their types.
    if sets.is_empty() {
        sets = types.keys().map(|k| (k.clone(), k.clone())).collect();
    }
    for (set, ty) in sets {
        if let Some((cols, keys)) = types.get(&ty) {
            out.sets.insert(
                set.to_ascii_lowercase(),
                TableSchema::new(set.clone(), cols.clone(), keys.clone()),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSDL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="SYSPRO" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="ApInvoice">
        <Key><PropertyRef Name="Supplier"/><PropertyRef Name="Invoice"/></Key>
        <Property Name="Supplier" Type="Edm.String" Nullable="false" MaxLength="15"/>
        <Property Name="Invoice" Type="Edm.String" Nullable="false" MaxLength="20"/>
        <Property Name="JournalDate" Type="Edm.DateTimeOffset" Nullable="false"/>
        <Property Name="OrigInvValue" Type="Edm.Decimal" Precision="14" Scale="2"/>
      </EntityType>
      <EntityContainer Name="Container">
        <EntitySet Name="ApInvoice" EntityType="SYSPRO.ApInvoice"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>"#;

    #[test]
    fn reads_types_keys_and_sets() {
        let m = parse_metadata(CSDL).unwrap();
        let t = m.table("apinvoice").unwrap();
        assert_eq!(t.entity_set, "ApInvoice");
        assert_eq!(t.declared_keys, ["Supplier", "Invoice"]);
        assert_eq!(
            t.column("originvvalue").unwrap().snowflake_type(),
            "NUMBER(14,2)"
        );
        assert_eq!(
            t.column("Supplier").unwrap().snowflake_type(),
            "VARCHAR(15)"
        );
        assert_eq!(
            t.column("JournalDate").unwrap().snowflake_type(),
            "TIMESTAMP_NTZ"
        );
        assert!(!t.column("JournalDate").unwrap().nullable);
    }

    #[test]
    fn refuses_documents_without_types() {
        assert!(parse_metadata("<html><body>IIS</body></html>").is_err());
        assert!(parse_metadata("<<<").is_err());
    }
}
