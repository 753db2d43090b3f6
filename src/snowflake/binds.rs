//! Statements with `:name` binds, as `sqlgen` renders them and `sql/` writes them, turned into
//! the SQL API's positional `?` binds. Knows Snowflake's lexical rules (string literals,
//! comments, `value:path`, `::cast`) and nothing else.

/// `(start, end, name)` of every `:name` bind: a colon not preceded by an identifier character,
/// a closing quote/bracket or another colon (those are Snowflake's `value:path` and `::cast`),
/// outside string literals and comments.
pub fn scan_binds(sql: &str) -> Vec<(usize, usize, String)> {
    let bytes = sql.as_bytes();
    let mut binds = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b':' => {
                let prev = if i > 0 { bytes[i - 1] } else { b' ' };
                let path_or_cast = prev.is_ascii_alphanumeric()
                    || matches!(prev, b'_' | b'"' | b']' | b')' | b':');
                let next = bytes.get(i + 1).copied().unwrap_or(b' ');
                if !path_or_cast && (next.is_ascii_lowercase() || next == b'_') {
                    let end = (i + 1..bytes.len())
                        .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_'))
                        .unwrap_or(bytes.len());
                    binds.push((i, end, sql[i + 1..end].to_string()));
                    i = end;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    binds
}

/// Rewrites `:name` binds to positional `?` (the SQL API's form) and returns the bind name of
/// each `?` in order; a name used twice appears twice.
pub fn to_positional(statement: &str) -> (String, Vec<String>) {
    let mut sql = String::with_capacity(statement.len());
    let mut names = Vec::new();
    let mut last = 0;
    for (start, end, name) in scan_binds(statement) {
        sql.push_str(&statement[last..start]);
        sql.push('?');
        names.push(name);
        last = end;
    }
    sql.push_str(&statement[last..]);
    (sql, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_found_outside_paths_casts_literals_and_comments() {
        let sql = "select p.page:rows, x::varchar, ':no', 'it''s :no' from t -- :nor\nwhere a = :run_id and b = :page_number and c = :run_id";
        let (positional, names) = to_positional(sql);
        assert!(
            positional.ends_with("where a = ? and b = ? and c = ?"),
            "{positional}"
        );
        assert!(positional.contains("'it''s :no'"), "{positional}");
        assert_eq!(names, vec!["run_id", "page_number", "run_id"]);
    }
}
