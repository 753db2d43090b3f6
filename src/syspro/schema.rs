//! Column types of a SYSPRO table as `$metadata` (or e.net) describes them, and what they become
//! in Snowflake.

use std::collections::HashMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    /// OData primitive type, e.g. `Edm.Decimal`.
    pub edm_type: String,
    pub nullable: bool,
    #[serde(skip)]
    pub max_length: Option<u32>,
    #[serde(skip)]
    pub precision: Option<u32>,
    #[serde(skip)]
    pub scale: Option<u32>,
}

impl Column {
    /// The Snowflake type typed views cast this column to. SYSPRO datetimes carry no zone
    /// (syspro.md §5.4), so they land as TIMESTAMP_NTZ, never shifted.
    pub fn snowflake_type(&self) -> String {
        match self.edm_type.as_str() {
            "Edm.String" => match self.max_length {
                Some(n) if n > 0 => format!("VARCHAR({n})"),
                _ => "VARCHAR".into(),
            },
            "Edm.Decimal" => match (self.precision, self.scale) {
                (Some(p), Some(s)) if p <= 38 && s <= p => format!("NUMBER({p},{s})"),
                (Some(p), None) if p <= 38 => format!("NUMBER({p},0)"),
                _ => "NUMBER(38,10)".into(),
            },
            "Edm.Byte" | "Edm.SByte" | "Edm.Int16" | "Edm.Int32" | "Edm.Int64" => {
                "NUMBER(38,0)".into()
            }
            "Edm.Double" | "Edm.Single" => "FLOAT".into(),
            "Edm.Boolean" => "BOOLEAN".into(),
            "Edm.Date" => "DATE".into(),
            "Edm.DateTimeOffset" | "Edm.DateTime" => "TIMESTAMP_NTZ".into(),
            "Edm.TimeOfDay" | "Edm.Duration" => "VARCHAR".into(),
            "Edm.Binary" => "BINARY".into(),
            "Edm.Guid" => "VARCHAR(36)".into(),
            _ => "VARIANT".into(),
        }
    }

    pub fn is_temporal(&self) -> bool {
        matches!(
            self.edm_type.as_str(),
            "Edm.Date" | "Edm.DateTimeOffset" | "Edm.DateTime"
        )
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self.edm_type.as_str(),
            "Edm.Decimal"
                | "Edm.Byte"
                | "Edm.SByte"
                | "Edm.Int16"
                | "Edm.Int32"
                | "Edm.Int64"
                | "Edm.Double"
                | "Edm.Single"
        )
    }
}

/// One entity set's columns, in SYSPRO's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The entity set's name as SYSPRO spells it (used in URLs).
    pub entity_set: String,
    pub columns: Vec<Column>,
    /// Key columns `$metadata` declares, for comparison with the catalog.
    pub declared_keys: Vec<String>,
    index: HashMap<String, usize>,
}

impl TableSchema {
    pub fn new(entity_set: String, columns: Vec<Column>, declared_keys: Vec<String>) -> Self {
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.to_ascii_lowercase(), i))
            .collect();
        TableSchema {
            entity_set,
            columns,
            declared_keys,
            index,
        }
    }

    /// Case-insensitive, because users type column names in config.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|&i| &self.columns[i])
    }
}
