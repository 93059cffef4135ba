//! `watch --once` as a table for people: one line per finding, nothing said twice. The state
//! has its column (a message does not repeat it), the time left is in the message (seconds stay
//! in `json` and `ndjson`), and a sentence several findings share (why a check is skipped, the
//! permission that fixes a refusal) is written once as a note under the table, the rows naming
//! the note.

use std::io::{self, Write};

use cli_kit::output::{Row, write_table};
use serde::Serialize;

use super::Finding;

/// Shared sentences shorter than this stay in the rows (a note would not save anything).
const NOTE_MIN_CHARS: usize = 40;

/// One row of the table, its cells already written.
#[derive(Serialize)]
struct FindingRow([String; 4]);

impl Row for FindingRow {
    fn headers() -> &'static [&'static str] {
        &["CHECK", "SUBJECT", "STATE", "MESSAGE"]
    }

    fn cells(&self) -> Vec<String> {
        self.0.to_vec()
    }
}

/// A finding's message without the `state: ` prefix the STATE column already shows.
fn text(f: &Finding) -> &str {
    let message = f.message.as_str();
    message
        .strip_prefix(f.state.as_str())
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(message)
}

/// Writes `findings` as the table, then the notes.
pub fn write(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    let texts: Vec<&str> = findings.iter().map(text).collect();
    let repeated = |t: &str| texts.iter().filter(|other| **other == t).count() > 1;
    // A message several findings share is one note; else its sentences (`; `-separated) that
    // other messages share are.
    let split: Vec<Vec<&str>> = texts
        .iter()
        .map(|&t| {
            if repeated(t) {
                vec![t]
            } else {
                t.split("; ").collect()
            }
        })
        .collect();
    let shared = |s: &str| {
        s.chars().count() >= NOTE_MIN_CHARS && split.iter().filter(|f| f.contains(&s)).count() > 1
    };
    let mut notes: Vec<&str> = Vec::new();
    let mut rows = Vec::with_capacity(findings.len());
    for (f, parts) in findings.iter().zip(&split) {
        let message: Vec<String> = parts
            .iter()
            .map(|&s| {
                if !shared(s) {
                    return s.to_owned();
                }
                let n = match notes.iter().position(|n| *n == s) {
                    Some(i) => i + 1,
                    None => {
                        notes.push(s);
                        notes.len()
                    }
                };
                format!("see note {n}")
            })
            .collect();
        rows.push(FindingRow([
            f.check.to_owned(),
            f.subject.to_string(),
            f.state.as_str().to_owned(),
            message.join("; "),
        ]));
    }
    write_table(out, &rows)?;
    if !notes.is_empty() {
        writeln!(out)?;
    }
    for (i, note) in notes.iter().enumerate() {
        writeln!(out, "note {}: {}", i + 1, cli_kit::output::printable(note))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::State;

    fn finding(check: &'static str, subject: &str, state: State, message: &str) -> Finding {
        Finding {
            check,
            subject: subject.into(),
            state,
            message: message.into(),
            seconds_left: Some(86_400),
        }
    }

    #[test]
    fn a_sentence_several_findings_share_is_a_note_written_once() {
        let why =
            "reading the app registration needs Application.Read.All, which setup does not request";
        let findings = [
            finding(
                "credentials",
                "app-1",
                State::Skipped,
                &format!("skipped: {why}"),
            ),
            finding(
                "credentials",
                "app-2",
                State::Skipped,
                &format!("skipped: {why}"),
            ),
            finding(
                "permissions",
                "registration",
                State::Skipped,
                &format!("skipped: {why}"),
            ),
            finding(
                "gdap",
                "rel-1",
                State::Ok,
                "relationship ends in 1.0 days; fine",
            ),
        ];
        let mut out = Vec::new();
        write(&mut out, &findings).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches(why).count(), 1, "{text}");
        assert_eq!(text.matches("see note 1").count(), 3, "{text}");
        assert!(
            !text.contains("skipped: "),
            "the STATE column says it: {text}"
        );
        assert!(!text.contains("86400"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "CHECK        SUBJECT       STATE    MESSAGE");
        assert!(
            lines[4].ends_with("relationship ends in 1.0 days; fine"),
            "{text}"
        );
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], format!("note 1: {why}"));
    }
}
