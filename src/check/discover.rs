//! `ml-connector discover`: compares the catalog with the configured SYSPRO, table by table —
//! entity set, keys (`$metadata`), columns and types, a `TimeStamp` column, how date-times are
//! written, the page cap the server applies; for e.net a one-row COMFND with explicit columns —
//! and prints a `[tables.X]` block of overrides for every difference. `check` runs the same and
//! fails on a difference that loses or corrupts rows (a key or watermark column missing or
//! different).

use serde_json::Value;

use crate::catalog::{ColumnType, TableDef};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::startup::build_puller;
use crate::syspro::Source;
use crate::syspro::odata::{ODataClient, PageQuery};
use crate::syspro::schema::{Column, TableSchema};

/// More rows than any plausible server page cap: what `discover` asks for to see the cap.
pub const CAP_PROBE_ROWS: usize = 20_000;

/// What `discover` found for one catalog table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableFinding {
    pub table: String,
    /// What was seen, one line each.
    pub notes: Vec<String>,
    /// Differences that lose or corrupt rows: `check` fails on them.
    pub problems: Vec<String>,
    /// `key = value` lines of the `[tables.X]` block that fixes the differences.
    pub overrides: Vec<String>,
    /// Rows the server answered without a next link although more followed.
    pub silent_cap: Option<usize>,
}

/// Every table's findings, or why SYSPRO could not be asked.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub tables: Vec<TableFinding>,
    pub page_rows: usize,
}

impl Discovery {
    /// The smallest silent page cap seen.
    pub fn page_cap(&self) -> Option<usize> {
        self.tables.iter().filter_map(|t| t.silent_cap).min()
    }
}

/// Asks the configured SYSPRO about every catalog table.
pub async fn discover(settings: &Settings) -> Result<Discovery, String> {
    let metrics = Metrics::new();
    let quick = super::quick_settings(settings);
    let puller = build_puller(&quick, &metrics).map_err(|e| e.to_string())?;
    let tables: Vec<TableDef> = puller.catalog().tables().cloned().collect();
    let mut out = Discovery {
        tables: Vec::new(),
        page_rows: settings.syspro.page_rows,
    };
    // `settings` is a single-company configuration, or one company's view of several.
    let source = puller.companies()[0].source();
    for table in &tables {
        let finding = match source {
            Source::OData(client) => odata_table(client, table).await,
            Source::Enet(client) => Ok(enet_table(client, table).await),
        };
        match finding {
            Ok(f) => out.tables.push(f),
            Err(e) => {
                puller.shutdown().await;
                return Err(e);
            }
        }
    }
    puller.shutdown().await;
    Ok(out)
}

/// `discover` for every company (or only `only`), each through its view of the settings; the
/// single company of a `[syspro]`-only configuration has id `""`.
pub async fn discover_companies(
    settings: &Settings,
    only: Option<&str>,
) -> Result<Vec<(String, Discovery)>, String> {
    if settings.companies.is_empty() {
        if let Some(c) = only {
            return Err(format!(
                "--company {c}: no [companies.*] are configured, this service reads one company; leave out --company"
            ));
        }
        return Ok(vec![(String::new(), discover(settings).await?)]);
    }
    settings.companies().map_err(|e| e.to_string())?;
    let ids = settings.company_ids();
    let chosen: Vec<&String> = ids
        .iter()
        .filter(|id| only.is_none_or(|o| o.eq_ignore_ascii_case(id)))
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "--company {}: not configured; the companies are {}",
            only.unwrap_or_default(),
            ids.join(", ")
        ));
    }
    let mut out = Vec::new();
    for id in chosen {
        let found = discover(&settings.company_view(id))
            .await
            .map_err(|e| format!("company {id}: {e}"))?;
        out.push((id.clone(), found));
    }
    Ok(out)
}

/// The report of [`discover_companies`]: as [`render`] for one company; per company, each under
/// its heading, otherwise. `[tables.*]` overrides are shared by every company (one catalog).
pub fn render_companies(found: &[(String, Discovery)]) -> String {
    match found {
        [(id, d)] if id.is_empty() => render(d),
        _ => {
            let mut out = String::from(
                "# [tables.*] overrides apply to every company: where companies differ, use the block that suits all of them.\n",
            );
            for (id, d) in found {
                out.push_str(&format!("\n## Company {id}\n"));
                out.push_str(&render(d));
            }
            out
        }
    }
}

/// The catalog's type text for an Edm column: `datetime`, `int`, `decimal(p,s)`; `None` is text.
pub fn catalog_type_of(column: &Column) -> Option<String> {
    match column.edm_type.as_str() {
        "Edm.DateTimeOffset" | "Edm.DateTime" | "Edm.Date" => Some("datetime".into()),
        "Edm.Byte" | "Edm.SByte" | "Edm.Int16" | "Edm.Int32" | "Edm.Int64" => Some("int".into()),
        "Edm.Decimal" => Some(format!(
            "decimal({},{})",
            column.precision.unwrap_or(38),
            column.scale.unwrap_or(0)
        )),
        _ => None,
    }
}

fn type_text(t: ColumnType) -> String {
    match t {
        ColumnType::DateTime => "datetime".into(),
        ColumnType::Int => "int".into(),
        ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
    }
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Keys, watermark and types of one table against `$metadata`.
pub fn compare_schema(table: &TableDef, schema: &TableSchema, f: &mut TableFinding) {
    let declared = &schema.declared_keys;
    let missing_keys: Vec<&String> = table
        .key_columns
        .iter()
        .filter(|k| schema.column(k).is_none())
        .collect();
    for k in &missing_keys {
        f.problems.push(format!(
            "key column {k:?} of the catalog is not a column of SYSPRO's {}",
            table.name
        ));
    }
    if !declared.is_empty() && !same_names(declared, &table.key_columns) {
        let wider: Vec<&String> = declared
            .iter()
            .filter(|d| !table.key_columns.iter().any(|k| k.eq_ignore_ascii_case(d)))
            .collect();
        if !wider.is_empty() {
            f.problems.push(format!(
                "$metadata's key {} has {} that the catalog's key {} lacks: rows that share the catalog's key would collapse",
                toml_list(declared),
                wider.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", "),
                toml_list(&table.key_columns)
            ));
        } else {
            f.notes.push(format!(
                "keys: $metadata declares {}, the catalog {}",
                toml_list(declared),
                toml_list(&table.key_columns)
            ));
        }
        f.overrides
            .push(format!("key_columns = {}", toml_list(declared)));
    } else if missing_keys.is_empty() {
        f.notes.push(format!(
            "keys: {} as the catalog",
            toml_list(&table.key_columns)
        ));
    }
    if let Some(wm) = &table.watermark_column {
        match schema.column(wm) {
            None => {
                f.problems.push(format!(
                    "watermark column {wm:?} is not a column of SYSPRO's {}",
                    table.name
                ));
                f.overrides.push("watermark_column = \"\"".into());
            }
            Some(c) if !c.is_temporal() => f.problems.push(format!(
                "watermark column {wm:?} is {}, not a date",
                c.edm_type
            )),
            Some(_) => {}
        }
    }
    if let Some(open) = &table.open_items {
        let absent: Vec<&str> = open
            .columns()
            .filter(|c| schema.column(c).is_none())
            .collect();
        if absent.is_empty() {
            f.notes.push(format!(
                "open items re-read every cycle: {} ({})",
                open.text(),
                open.evidence
            ));
        } else {
            // every sync cycle's open-items read would fail, and the task suspend itself
            f.problems.push(format!(
                "the open-items filter `{}` names {}, which SYSPRO's {} does not have: every sync cycle's open-items re-read would fail",
                open.text(),
                absent.join(", "),
                table.name
            ));
            f.overrides.push("open_items = \"\"".into());
        }
    }
    let mut types = Vec::new();
    for column in &schema.columns {
        let seen = catalog_type_of(column);
        let have = table.column_type(&column.name).map(type_text);
        if seen != have {
            types.push(format!(
                "{} = {:?}",
                column.name,
                seen.clone().unwrap_or_else(|| "string".into())
            ));
            f.notes.push(format!(
                "type: {} is {} in SYSPRO, {} in the catalog",
                column.name,
                seen.unwrap_or_else(|| "text".into()),
                have.unwrap_or_else(|| "text".into())
            ));
        }
    }
    for (name, _) in &table.column_types {
        if schema.column(name).is_none() {
            f.notes.push(format!(
                "the catalog types {name}, which SYSPRO's {} does not have",
                table.name
            ));
        }
    }
    if !types.is_empty() {
        f.overrides
            .push(format!("column_types = {{ {} }}", types.join(", ")));
    }
    let stamp = schema.columns.iter().find(|c| {
        c.name.eq_ignore_ascii_case("TimeStamp")
            || (c.edm_type == "Edm.Binary" && c.name.to_ascii_lowercase().contains("stamp"))
    });
    f.notes.push(match stamp {
        Some(c) => format!(
            "{} ({}) is exposed: a rowversion could detect changes no date shows",
            c.name, c.edm_type
        ),
        None => "no TimeStamp (rowversion) column exposed".into(),
    });
}

/// The zone suffix of a date-time text: `Z`, `+02:00`, or empty.
fn zone_of(text: &str) -> &str {
    let stripped = crate::syspro::normalize::strip_zone(text);
    if text.len() > stripped.len() && text.starts_with(&stripped) {
        &text[stripped.len()..]
    } else {
        ""
    }
}

async fn odata_table(client: &ODataClient, table: &TableDef) -> Result<TableFinding, String> {
    let mut f = TableFinding {
        table: table.name.clone(),
        ..Default::default()
    };
    let md = client.metadata().await.map_err(|e| e.to_string())?;
    let Some(schema) = md.table(&table.name) else {
        f.problems.push(format!(
            "SYSPRO's OData service has no entity set {:?} for this user",
            table.name
        ));
        return Ok(f);
    };
    compare_schema(table, schema, &mut f);
    let keys: Vec<String> = schema
        .declared_keys
        .iter()
        .filter(|k| schema.column(k).is_some())
        .cloned()
        .collect();
    let keys = if keys.is_empty() {
        table
            .key_columns
            .iter()
            .filter(|k| schema.column(k).is_some())
            .cloned()
            .collect()
    } else {
        keys
    };
    if keys.is_empty() {
        return Ok(f);
    }
    // One row: how date-times are written.
    let one = PageQuery::Options {
        filter: None,
        orderby: keys.join(","),
        top: 1,
        skip: None,
        select: None,
    };
    match client.fetch_raw(&schema.entity_set, &one).await {
        Err(e) => f.problems.push(format!("a one-row read failed: {e}")),
        Ok(body) => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match v.pointer("/value/0").and_then(Value::as_object) {
                None => f
                    .notes
                    .push("the table is empty: date-times not seen".into()),
                Some(row) => {
                    let sample = schema
                        .columns
                        .iter()
                        .filter(|c| c.edm_type == "Edm.DateTimeOffset")
                        .find_map(|c| row.get(&c.name).and_then(Value::as_str));
                    if let Some(text) = sample {
                        let zone = zone_of(text);
                        f.notes.push(match zone {
                            "" => format!("date-times written without a zone ({text})"),
                            "Z" => format!("date-times written with Z ({text})"),
                            z => format!(
                                "date-times written with the offset {z} ({text}): literals carry it, records keep the wall clock"
                            ),
                        });
                    }
                }
            }
        }
    }
    // Many rows: the page cap.
    let many = PageQuery::Options {
        filter: None,
        orderby: keys.join(","),
        top: CAP_PROBE_ROWS,
        skip: None,
        select: Some(keys.join(",")),
    };
    if let Ok(body) = client.fetch_raw(&schema.entity_set, &many).await {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let n = v
            .get("value")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        if v.get("@odata.nextLink").is_some() {
            f.notes
                .push(format!("page cap: {n} rows, announced with a next link"));
        } else if n > 0 && n < CAP_PROBE_ROWS {
            let after = PageQuery::Options {
                filter: None,
                orderby: keys.join(","),
                top: 1,
                skip: Some(n as u64),
                select: Some(keys.join(",")),
            };
            let more = match client.fetch_raw(&schema.entity_set, &after).await {
                Ok(body) => serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.get("value")
                            .and_then(Value::as_array)
                            .map(|a| !a.is_empty())
                    })
                    .unwrap_or(false),
                Err(_) => false,
            };
            if more {
                f.silent_cap = Some(n);
                f.notes.push(format!(
                    "page cap: SYSPRO answered {n} of {CAP_PROBE_ROWS} rows WITHOUT a next link although more follow (a silent cap; pulls detect it, page_rows = {n} avoids the extra request)"
                ));
            } else {
                f.notes
                    .push(format!("page cap: none seen ({n} rows, the whole table)"));
            }
        } else if n >= CAP_PROBE_ROWS {
            f.notes
                .push(format!("page cap: none up to {CAP_PROBE_ROWS} rows"));
        }
    }
    Ok(f)
}

async fn enet_table(client: &crate::syspro::enet::EnetClient, table: &TableDef) -> TableFinding {
    let mut f = TableFinding {
        table: table.name.clone(),
        ..Default::default()
    };
    let known = crate::syspro::enet::catalog_columns(table);
    let all = client.sample_names(&table.name, None).await;
    match &all {
        Ok(names) if names.is_empty() => {
            f.notes.push("COMFND without <Columns>: the table is empty".into())
        }
        Ok(names) => {
            f.notes.push(format!(
                "COMFND without <Columns> answers {} columns",
                names.len()
            ));
            let untyped: Vec<&String> = names
                .iter()
                .filter(|n| !known.iter().any(|k| k.eq_ignore_ascii_case(n)))
                .collect();
            if !untyped.is_empty() {
                f.notes.push(format!(
                    "{} columns the catalog does not type (read as text; e.net carries no types): {}",
                    untyped.len(),
                    untyped
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Err(e) => f.notes.push(format!(
            "COMFND without <Columns> is refused ({}): pulls read only the columns the catalog names; list others in select",
            e.message
        )),
    }
    let needed = crate::syspro::enet::needed_columns(table);
    match client.sample_names(&table.name, Some(&needed)).await {
        Ok(names) if names.is_empty() => f
            .notes
            .push("COMFND with explicit columns: accepted, the table is empty".into()),
        Ok(names) => {
            f.notes.push(format!(
                "COMFND with explicit columns ({}): answered",
                needed.join(", ")
            ));
            for (needed, setting) in table.key_columns.iter().map(|c| (c, "key_columns")).chain(
                table
                    .watermark_column
                    .iter()
                    .map(|c| (c, "watermark_column")),
            ) {
                if !names.iter().any(|n| n.eq_ignore_ascii_case(needed)) {
                    f.problems
                        .push(format!("{setting} column {needed:?} was not answered"));
                }
            }
        }
        Err(e) => {
            f.problems.push(format!(
                "COMFND with the columns pulls need ({}) is refused: {}",
                needed.join(", "),
                e.message
            ));
            if let Ok(names) = &all {
                for (needed, setting) in table.key_columns.iter().map(|c| (c, "key_columns")).chain(
                    table
                        .watermark_column
                        .iter()
                        .map(|c| (c, "watermark_column")),
                ) {
                    if !names.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(needed)) {
                        f.problems.push(format!(
                            "{setting} column {needed:?} is not a column of SYSPRO's {}",
                            table.name
                        ));
                    }
                }
            }
        }
    }
    f
}

/// The report: a verdict per table, then the blocks to paste.
pub fn render(d: &Discovery) -> String {
    let mut out = String::new();
    for t in &d.tables {
        let verdict = if !t.problems.is_empty() {
            "LOSES ROWS"
        } else if !t.overrides.is_empty() {
            "differs"
        } else {
            "matches"
        };
        out.push_str(&format!("{}: {verdict}\n", t.table));
        for p in &t.problems {
            out.push_str(&format!("  ✘ {p}\n"));
        }
        for n in &t.notes {
            out.push_str(&format!("  · {n}\n"));
        }
    }
    let blocks: Vec<&TableFinding> = d
        .tables
        .iter()
        .filter(|t| !t.overrides.is_empty())
        .collect();
    let cap = d.page_cap().filter(|&c| c < d.page_rows);
    if blocks.is_empty() && cap.is_none() {
        out.push_str("\nNo overrides needed.\n");
        return out;
    }
    out.push_str("\n# Overrides for this site: paste into the configuration file.\n");
    if let Some(cap) = cap {
        out.push_str(&format!("[syspro]\npage_rows = {cap}\n\n"));
    }
    for t in blocks {
        out.push_str(&format!("[tables.{}]\n", t.table));
        for o in &t.overrides {
            out.push_str(o);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// `check`'s verdict lines: one per table that differs.
pub fn check_items(d: &Discovery) -> Vec<super::CheckItem> {
    d.tables
        .iter()
        // a table SYSPRO does not expose has its own verdict from the table reads
        .filter(|t| !t.problems.iter().any(|p| p.contains("has no entity set")))
        .filter(|t| !t.problems.is_empty() || !t.overrides.is_empty())
        .map(|t| super::CheckItem {
            name: format!("SYSPRO {} vs catalog", t.table),
            ok: t.problems.is_empty(),
            detail: if t.problems.is_empty() {
                format!("differs, rows are safe: {}", t.overrides.join("; "))
            } else {
                t.problems.join("; ")
            },
            fix: Some(if t.overrides.is_empty() {
                format!("correct [tables.{}] (run `ml-connector discover`)", t.table)
            } else {
                format!(
                    "add to the configuration: [tables.{}] {} (`ml-connector discover` prints the block)",
                    t.table,
                    t.overrides.join(" ")
                )
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, edm_type: &str) -> Column {
        Column {
            name: name.into(),
            edm_type: edm_type.into(),
            nullable: false,
            max_length: None,
            precision: None,
            scale: None,
        }
    }

    #[test]
    fn an_open_items_column_the_site_lacks_is_a_problem_with_its_fix() {
        let catalog = crate::catalog::Catalog::built_in();
        let grn = catalog.get("GrnDetails").unwrap();
        let mut columns: Vec<Column> = grn
            .key_columns
            .iter()
            .map(|k| column(k, "Edm.String"))
            .collect();
        columns.push(column("OrigReceiptDate", "Edm.DateTimeOffset"));
        let schema = TableSchema::new("GrnDetails".into(), columns.clone(), Vec::new());
        let mut f = TableFinding::default();
        compare_schema(grn, &schema, &mut f);
        assert!(
            f.problems.iter().any(|p| p.contains("MatchedValue")),
            "{f:?}"
        );
        assert!(
            f.overrides.contains(&"open_items = \"\"".to_string()),
            "{f:?}"
        );

        columns.push(column("MatchedValue", "Edm.Decimal"));
        let schema = TableSchema::new("GrnDetails".into(), columns, Vec::new());
        let mut f = TableFinding::default();
        compare_schema(grn, &schema, &mut f);
        assert!(
            !f.problems.iter().any(|p| p.contains("open-items")),
            "{f:?}"
        );
        assert!(
            f.notes.iter().any(|n| n.contains("MatchedValue eq 0")),
            "{f:?}"
        );
    }
}
