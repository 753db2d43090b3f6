//! Which company and table a call names: the one place a `table` argument is resolved.
//!
//! A qualified name is `UK1.ApInvoice`: the company id, a dot, the catalog's table name (both
//! case-insensitive; catalog names never hold a dot). In a single-company deployment (company
//! `""`) a table is named as it always was, `ApInvoice`. With companies configured an
//! unqualified name is refused with the qualified names to use: guessing a company would land
//! one company's rows as another's.
//!
//! The canonical qualified name (`UK1.ApInvoice`, or `ApInvoice` for company `""`) is what
//! answers carry in `table` and what cursors are bound to, so a cursor of one company's pull is
//! refused for another's.

use super::engine::{Company, Puller};
use super::request::BadRequest;
use crate::catalog::TableDef;
pub use crate::catalog::qualified_name;

/// A table of one company.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub company: &'a Company,
    pub table: TableDef,
    /// The canonical qualified name.
    pub name: String,
}

impl Puller {
    /// The company and catalog table `name` stands for, or a 400 naming what to call instead.
    pub fn resolve(&self, name: &str) -> Result<Resolved<'_>, BadRequest> {
        let trimmed = name.trim();
        let ids = || {
            self.companies()
                .iter()
                .map(|c| c.id().to_string())
                .collect()
        };
        let (company, table) = match trimmed.split_once('.') {
            Some((company, table)) => {
                let found = self
                    .companies()
                    .iter()
                    .find(|c| !c.id().is_empty() && c.id().eq_ignore_ascii_case(company.trim()));
                match found {
                    Some(c) => (c, self.catalog.get(table)?.clone()),
                    None => {
                        return Err(BadRequest::UnknownCompany {
                            requested: trimmed.to_string(),
                            company: company.trim().to_string(),
                            companies: ids(),
                        });
                    }
                }
            }
            None => {
                let table = self.catalog.get(trimmed)?.clone();
                if self.has_companies() {
                    return Err(BadRequest::AmbiguousTable {
                        table: table.name.clone(),
                        companies: ids(),
                    });
                }
                (&self.companies()[0], table)
            }
        };
        Ok(Resolved {
            name: qualified_name(company.id(), &table.name),
            company,
            table,
        })
    }

    /// The company ids, in order (`[""]` for a single-company deployment).
    pub fn company_ids(&self) -> Vec<String> {
        self.companies()
            .iter()
            .map(|c| c.id().to_string())
            .collect()
    }
}

impl std::fmt::Debug for Company {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Company").field("id", &self.id()).finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::catalog::Catalog;
    use crate::pull::cursor::{CursorError, CursorSigner};
    use crate::pull::engine::CompanySource;
    use crate::retry::RetryPolicy;
    use crate::syspro::Source;
    use crate::syspro::odata::ODataClient;

    /// An engine over companies `ids` whose SYSPRO is never asked (nothing here reads it).
    pub(crate) fn puller(ids: &[&str]) -> Puller {
        let companies = ids
            .iter()
            .map(|id| {
                let http = crate::http::build_client(Duration::from_secs(1), None).unwrap();
                let client = ODataClient::new(
                    http,
                    &format!("http://127.0.0.1:9/SYSPROOData/{}", id),
                    "u".into(),
                    "p".to_string().into(),
                    RetryPolicy {
                        initial_backoff: Duration::from_millis(1),
                        max_backoff: Duration::from_millis(1),
                        max_attempts: 1,
                        deadline: Duration::from_secs(1),
                    },
                    crate::metrics::Metrics::new(),
                )
                .unwrap();
                CompanySource {
                    id: id.to_string(),
                    source: Arc::new(Source::OData(client)),
                    max_concurrency: 2,
                }
            })
            .collect();
        Puller::new(
            Arc::new(Catalog::built_in()),
            CursorSigner::new(b"secret-one-secret-one", 3600),
            100,
            crate::syspro::Paging::Keyset,
            companies,
        )
    }

    #[test]
    fn one_company_reads_names_as_before() {
        let p = puller(&[""]);
        let r = p.resolve(" apinvoice ").unwrap();
        assert_eq!((r.company.id(), r.name.as_str()), ("", "ApInvoice"));
        assert_eq!(r.table.name, "ApInvoice");
        let err = p.resolve("UK1.ApInvoice").unwrap_err();
        assert_eq!(err.argument(), "table");
        assert!(err.to_string().contains("call it 'ApInvoice'"), "{err}");
        assert!(matches!(
            p.resolve("Nope"),
            Err(BadRequest::UnknownTable(_))
        ));
        assert_eq!(p.company_ids(), [""]);
    }

    #[test]
    fn with_companies_a_name_must_say_which() {
        let p = puller(&["EDU1", "UK1"]);
        let r = p.resolve("uk1.apinvoice").unwrap();
        assert_eq!((r.company.id(), r.name.as_str()), ("UK1", "UK1.ApInvoice"));
        assert_eq!(
            r.table.name, "ApInvoice",
            "SYSPRO is asked for the catalog name"
        );
        let err = p.resolve("ApInvoice").unwrap_err();
        assert_eq!(
            err.to_string(),
            "table 'ApInvoice' is ambiguous: this service reads companies EDU1, UK1; name one: EDU1.ApInvoice, UK1.ApInvoice"
        );
        assert_eq!(err.argument(), "table");
        let err = p.resolve("DE1.ApInvoice").unwrap_err();
        assert!(
            err.to_string()
                .contains("company 'DE1' is not one this service reads (EDU1, UK1)"),
            "{err}"
        );
        assert!(matches!(
            p.resolve("UK1.Nope"),
            Err(BadRequest::UnknownTable(_))
        ));
        assert_eq!(p.company_ids(), ["EDU1", "UK1"]);
    }

    #[test]
    fn a_cursor_of_one_company_is_refused_for_another() {
        let p = puller(&["EDU1", "UK1"]);
        let first = p.prepare_pull("UK1.ApSupplier", None, None, 1_000).unwrap();
        assert_eq!(
            (first.company.as_str(), first.name.as_str()),
            ("UK1", "UK1.ApSupplier")
        );
        let state = crate::pull::CursorState::new(
            crate::pull::CursorFunction::Pull,
            &first.name,
            None,
            "poll",
            2,
            crate::syspro::Position::Offset { rows: 10 },
            1_000,
        );
        let cursor = p.signer.sign(&state);
        let ok = p
            .prepare_pull("uk1.apsupplier", None, Some(&cursor), 1_010)
            .unwrap();
        assert_eq!(ok.state.unwrap().table, "UK1.ApSupplier");
        let err = p
            .prepare_pull("EDU1.ApSupplier", None, Some(&cursor), 1_010)
            .unwrap_err();
        assert!(
            matches!(&err, BadRequest::Cursor(CursorError::WrongTable { cursor_table, requested })
                if cursor_table == "UK1.ApSupplier" && requested == "EDU1.ApSupplier"),
            "{err:?}"
        );
        // every function binds its cursor the same way
        let keys = p.prepare_keys("EDU1.ApSupplier", Some(&cursor), 1_010);
        assert!(keys.is_err());
    }
}
