//! Rendering results: `table` for people, `json` (one document) and `ndjson` (one object per
//! line) for `jq` and scripts. Logs and errors go to stderr, never here.
//!
//! Two shapes of result share one table renderer:
//! - JSON values picked apart by JSON pointers ([`ListWriter`], [`write_object`],
//!   [`write_document`]): lists are written as they arrive in `json` and `ndjson` (a JSON array is
//!   streamed element by element), so memory stays flat on large fan-outs;
//! - typed records that know their cells ([`Row`], [`write_rows`]).
//!
//! `table` needs every row to size its columns and is meant for people. [`write_list`] streams
//! a `common` client's pages through a [`ListWriter`]; [`parse_window`] reads the lengths of time
//! the commands take (`30d`, `P30D`).

use std::io::{self, Write};
use std::process::ExitCode;

use common::graph::iso8601_days;
use futures::{Stream, TryStreamExt as _};
use serde::Serialize;
use serde_json::Value;

use crate::Failure;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document (an array for lists).
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// A column of a table: its header and the JSON pointer of its value (`/companyProfile/domain`).
pub type Column = (&'static str, &'static str);

/// Renders a value for a table cell: strings as they are, `null` as empty, a list of strings
/// comma-separated, anything else as JSON.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Text from Graph or Partner Center (names, domains) made safe for a terminal: control
/// characters (escape sequences, newlines, tabs) and bidirectional overrides are written as
/// their escapes (`\u{1b}`), so a customer's display name can neither move the cursor, recolour
/// the screen nor reorder what the operator reads. JSON output is escaped by serde instead.
pub fn printable(text: &str) -> String {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Writes an aligned table: a header line, then one line per row; columns as wide as their
/// widest cell, two spaces apart, trailing spaces trimmed. Cells go through [`printable`].
fn write_grid(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| printable(c)).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(&mut headers.iter().copied()))?;
    for row in rows {
        writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// Writes a list of JSON objects, one at a time.
pub struct ListWriter<'a> {
    format: OutputFormat,
    out: &'a mut dyn Write,
    columns: &'static [Column],
    rows: Vec<Vec<String>>,
    count: usize,
}

impl std::fmt::Debug for ListWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListWriter")
            .field("format", &self.format)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<'a> ListWriter<'a> {
    /// A writer for `format`; `columns` are used by `table`.
    pub fn new(format: OutputFormat, out: &'a mut dyn Write, columns: &'static [Column]) -> Self {
        Self {
            format,
            out,
            columns,
            rows: Vec::new(),
            count: 0,
        }
    }

    /// Writes one item.
    pub fn item(&mut self, value: &Value) -> io::Result<()> {
        match self.format {
            OutputFormat::Table => {
                self.rows.push(
                    self.columns
                        .iter()
                        .map(|(_, pointer)| cell(value.pointer(pointer)))
                        .collect(),
                );
            }
            OutputFormat::Json => {
                self.out
                    .write_all(if self.count == 0 { b"[\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut *self.out, value)?;
            }
            OutputFormat::Ndjson => write_ndjson(self.out, value)?,
        }
        self.count += 1;
        Ok(())
    }

    /// How many items were written.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Ends the list (closes the JSON array, prints the table).
    pub fn finish(self) -> io::Result<()> {
        match self.format {
            OutputFormat::Table => {
                let headers: Vec<&str> = self.columns.iter().map(|(h, _)| *h).collect();
                write_grid(self.out, &headers, &self.rows)
            }
            OutputFormat::Json if self.count == 0 => self.out.write_all(b"[]\n"),
            OutputFormat::Json => self.out.write_all(b"\n]\n"),
            OutputFormat::Ndjson => Ok(()),
        }?;
        self.out.flush()
    }
}

/// Writes one object: `table` shows `fields` as `FIELD  VALUE` lines (every top-level field
/// when `fields` is empty), leaving out the fields without a value (no blank rows); `json`
/// pretty-prints every field, `ndjson` writes one line.
pub fn write_object(
    format: OutputFormat,
    out: &mut dyn Write,
    fields: &[Column],
    value: &Value,
) -> io::Result<()> {
    match format {
        OutputFormat::Table => {
            let pairs: Vec<(String, String)> = if fields.is_empty() {
                match value {
                    Value::Object(map) => map
                        .iter()
                        .map(|(k, v)| (k.clone(), cell(Some(v))))
                        .collect(),
                    other => vec![(String::new(), cell(Some(other)))],
                }
            } else {
                fields
                    .iter()
                    .map(|(h, p)| ((*h).to_owned(), cell(value.pointer(p))))
                    .collect()
            };
            let pairs: Vec<(String, String)> =
                pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            let width = pairs
                .iter()
                .map(|(k, _)| k.chars().count())
                .max()
                .unwrap_or(0);
            for (k, v) in pairs {
                let (k, v) = (printable(&k), printable(&v));
                writeln!(out, "{}", format!("{k:<width$}  {v}").trim_end())?;
            }
        }
        OutputFormat::Json => write_json(out, value)?,
        OutputFormat::Ndjson => write_ndjson(out, value)?,
    }
    out.flush()
}

/// Writes an arbitrary JSON document (raw GETs): pretty for `table` and `json`, one line for
/// `ndjson`.
pub fn write_document(format: OutputFormat, out: &mut dyn Write, value: &Value) -> io::Result<()> {
    match format {
        OutputFormat::Table | OutputFormat::Json => write_json(out, value)?,
        OutputFormat::Ndjson => write_ndjson(out, value)?,
    }
    out.flush()
}

/// Something shown as one table row.
pub trait Row: Serialize {
    /// Column titles.
    fn headers() -> &'static [&'static str];
    /// Cell texts, one per header.
    fn cells(&self) -> Vec<String>;
}

/// Writes `rows` as an aligned table.
pub fn write_table<R: Row>(out: &mut dyn Write, rows: &[R]) -> io::Result<()> {
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    write_grid(out, R::headers(), &cells)
}

/// Writes one record as an NDJSON line.
pub fn write_ndjson<T: Serialize + ?Sized>(out: &mut dyn Write, record: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
}

/// Writes one pretty-printed JSON document.
pub fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, doc: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    out.write_all(b"\n")
}

/// Writes `rows` in `format` (NDJSON: a line each; JSON: an array).
pub fn write_rows<R: Row>(out: &mut dyn Write, format: OutputFormat, rows: &[R]) -> io::Result<()> {
    match format {
        OutputFormat::Table => write_table(out, rows),
        OutputFormat::Json => write_json(out, rows),
        OutputFormat::Ndjson => rows.iter().try_for_each(|r| write_ndjson(out, r)),
    }
}

/// A Unix time as RFC 3339 (`1970-01-01T00:00:00Z`), or `None` when out of range.
pub fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// A result item as the JSON value the writers pick apart.
pub fn to_value<T: Serialize>(item: &T) -> Result<Value, Failure> {
    serde_json::to_value(item).map_err(|e| Failure::new(format!("cannot render a result: {e}")))
}

/// Writes every item of a stream as it arrives (`json` and `ndjson` stream; `table` sizes its
/// columns at the end).
pub async fn write_list<T, E, S>(
    stream: S,
    format: OutputFormat,
    out: &mut dyn Write,
    columns: &'static [Column],
) -> Result<ExitCode, Failure>
where
    T: Serialize,
    S: Stream<Item = Result<T, E>>,
    Failure: From<E>,
{
    let mut writer = ListWriter::new(format, out, columns);
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.try_next().await? {
        writer.item(&to_value(&item)?)?;
    }
    writer.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// A window of time, in seconds (`gdap expiring --within`, the watch's spans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(pub i64);

/// Parses `30d`, `12h`, `4w` or an ISO 8601 duration (`P30D`).
pub fn parse_window(text: &str) -> Result<Window, String> {
    let t = text.trim();
    let invalid = || format!("{text:?} is not a window such as 30d, 12h, 4w or P30D");
    if t.starts_with(['P', 'p']) {
        let days = iso8601_days(&t.to_ascii_uppercase()).ok_or_else(invalid)?;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a window is a few years at most"
        )]
        return Ok(Window((days * 86_400.0) as i64));
    }
    let (number, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| invalid())?;
    let unit_secs = match unit.to_ascii_lowercase().as_str() {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(invalid()),
    };
    n.checked_mul(unit_secs)
        .filter(|s| *s >= 0)
        .map(Window)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_read_in_days_hours_weeks_or_iso() {
        assert_eq!(parse_window("30d"), Ok(Window(30 * 86_400)));
        assert_eq!(parse_window("12h"), Ok(Window(12 * 3_600)));
        assert_eq!(parse_window("2w"), Ok(Window(14 * 86_400)));
        assert_eq!(parse_window("P30D"), Ok(Window(30 * 86_400)));
        assert!(parse_window("30").is_err());
        assert!(parse_window("thirty days").is_err());
    }

    #[test]
    fn names_from_the_apis_cannot_drive_the_terminal() {
        let hostile = "Contoso\u{1b}[2J\u{1b}]0;owned\u{7}\r\nEvil\u{202e}moc.evil";
        let text = printable(hostile);
        assert!(
            !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{text:?}"
        );
        assert!(text.starts_with("Contoso\\u{1b}[2J"), "{text}");
        assert_eq!(
            printable("Fabrikam, Inc. — Zürich"),
            "Fabrikam, Inc. — Zürich"
        );
        let mut out = Vec::new();
        write_object(
            OutputFormat::Table,
            &mut out,
            &[("NAME", "/name")],
            &serde_json::json!({"name": hostile}),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 1, "{out:?}");
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }

    proptest::proptest! {
        #[test]
        fn printable_text_has_no_control_characters(text in "\\PC*|[\\x00-\\x1f\\x7f\\u{202e}a-z]{0,40}") {
            let p = printable(&text);
            let unsafe_left = p.chars().any(|c| c.is_control() || c == '\u{202e}');
            proptest::prop_assert!(!unsafe_left, "{:?}", p);
        }
    }
    use serde_json::json;

    const COLUMNS: &[Column] = &[("ID", "/id"), ("NAME", "/profile/name")];

    fn render(format: OutputFormat, items: &[Value]) -> String {
        let mut buf = Vec::new();
        let mut w = ListWriter::new(format, &mut buf, COLUMNS);
        for i in items {
            w.item(i).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn tables_align_columns_and_read_nested_fields() {
        let items = [
            json!({"id": "a", "profile": {"name": "Alpha"}}),
            json!({"id": "bbbb", "profile": {}}),
        ];
        assert_eq!(
            render(OutputFormat::Table, &items),
            "ID    NAME\na     Alpha\nbbbb\n"
        );
    }

    #[test]
    fn json_lists_are_valid_arrays_even_when_empty() {
        let items = [json!({"id": "a"}), json!({"id": "b"})];
        let text = render(OutputFormat::Json, &items);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!([{"id": "a"}, {"id": "b"}])
        );
        assert_eq!(render(OutputFormat::Json, &[]), "[]\n");
    }

    #[test]
    fn ndjson_writes_one_object_per_line() {
        let items = [json!({"id": "a"}), json!({"id": "b"})];
        assert_eq!(
            render(OutputFormat::Ndjson, &items),
            "{\"id\":\"a\"}\n{\"id\":\"b\"}\n"
        );
    }

    #[derive(Serialize)]
    struct R(&'static str, &'static str);

    impl Row for R {
        fn headers() -> &'static [&'static str] {
            &["NAME", "DETAIL"]
        }
        fn cells(&self) -> Vec<String> {
            vec![self.0.into(), self.1.into()]
        }
    }

    #[test]
    fn row_tables_align_columns() {
        let mut buf = Vec::new();
        write_table(&mut buf, &[R("a", "x"), R("longer", "")]).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "NAME    DETAIL\na       x\nlonger\n"
        );
    }

    #[test]
    fn objects_leave_fields_without_a_value_out_of_tables_only() {
        let value = json!({"a": "x", "b": null, "c": "", "d": 2});
        let mut table = Vec::new();
        write_object(OutputFormat::Table, &mut table, &[], &value).unwrap();
        assert_eq!(String::from_utf8(table).unwrap(), "a  x\nd  2\n");
        let mut doc = Vec::new();
        write_object(OutputFormat::Json, &mut doc, &[], &value).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&doc).unwrap(), value);
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(i64::MAX), None);
    }
}
