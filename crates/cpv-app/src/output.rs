//! Rendering results: an aligned table for people, JSON or NDJSON for scripts.

use std::io::{self, Write};

use serde::Serialize;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns, with a summary line.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line (a record per customer, partner or user).
    Ndjson,
}

/// Something shown as one table row.
pub trait Row: Serialize {
    /// Column titles.
    fn headers() -> &'static [&'static str];
    /// Cell texts, one per header.
    fn cells(&self) -> Vec<String>;
}

/// Writes an aligned table: columns as wide as their widest cell, the last one unpadded.
pub fn write_table<R: Row>(out: &mut dyn Write, rows: &[R]) -> io::Result<()> {
    let headers = R::headers();
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: &[String]| -> io::Result<()> {
        let last = row.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(c);
            } else {
                text.push_str(c);
                text.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    let titles: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    line(out, &titles)?;
    for row in &cells {
        line(out, row)?;
    }
    Ok(())
}

/// Writes one record as an NDJSON line.
pub fn write_ndjson<T: Serialize>(out: &mut dyn Write, record: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)
}

/// Writes one pretty-printed JSON document.
pub fn write_json<T: Serialize>(out: &mut dyn Write, doc: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}

/// Writes `rows` in `format` (NDJSON: a line each; JSON: an array).
pub fn write_rows<R: Row>(out: &mut dyn Write, format: OutputFormat, rows: &[R]) -> io::Result<()> {
    match format {
        OutputFormat::Table => write_table(out, rows),
        OutputFormat::Json => write_json(out, &rows),
        OutputFormat::Ndjson => rows.iter().try_for_each(|r| write_ndjson(out, r)),
    }
}

/// A Unix time as RFC 3339, or `-`.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn tables_align_columns() {
        let mut buf = Vec::new();
        write_table(&mut buf, &[R("a", "x"), R("longer", "")]).unwrap();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "NAME    DETAIL\na       x\nlonger\n"
        );
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
