//! The upcoming-expiries timeline: an SVG drawn on the server, one lane per kind (refresh
//! tokens, certificates and secrets, GDAP relationships) over the next 180 days, one mark per
//! thing that expires (its `<title>` names it). No script, no inline style (the CSP allows
//! none): presentation attributes and classes only. The table beside it is what screen readers
//! read; the SVG is `role="img"` with a summary label.

use std::fmt::Write as _;

use super::view::{Expiry, HORIZON_DAYS, Kind};

const WIDTH: i64 = 900;
const LEFT: i64 = 200;
const RIGHT: i64 = 20;
const LANE: i64 = 48;
const TOP: i64 = 30;

/// Escapes text for SVG (XML) content and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn x_of(days: i64) -> i64 {
    let span = WIDTH - LEFT - RIGHT;
    LEFT + days.clamp(0, HORIZON_DAYS) * span / HORIZON_DAYS
}

/// The SVG (markup, already escaped) of `items`, at most `max_marks` marks per lane (the rest
/// are counted in the lane's label).
pub fn svg(items: &[Expiry], max_marks: usize) -> String {
    let height = TOP + LANE * 3 + 30;
    let mut s = String::new();
    let summary = format!(
        "Timeline of the next {HORIZON_DAYS} days: {} things expire; the table below lists them",
        items.len()
    );
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        escape(&summary)
    );
    for day in (0..=HORIZON_DAYS).step_by(30) {
        let x = x_of(day);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{x}" y1="{}" x2="{x}" y2="{}"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{day} d</text>"#,
            TOP - 10,
            TOP + LANE * 3,
            TOP + LANE * 3 + 18
        );
    }
    for (lane, kind) in Kind::ALL.iter().enumerate() {
        let y = TOP + LANE * i64::try_from(lane).unwrap_or(0) + LANE / 2;
        let mine: Vec<&Expiry> = items.iter().filter(|e| e.kind == *kind).collect();
        let _ = write!(
            s,
            r#"<text class="lane" x="8" y="{}">{} ({})</text><line class="axis" x1="{LEFT}" y1="{y}" x2="{}" y2="{y}"/>"#,
            y + 5,
            escape(kind.label()),
            mine.len(),
            WIDTH - RIGHT
        );
        for e in mine.iter().take(max_marks) {
            let class = if e.days_left <= 7 {
                "mark critical"
            } else if e.days_left <= 30 && !e.auto_extends {
                "mark warning"
            } else {
                "mark ok"
            };
            let _ = write!(
                s,
                r#"<circle class="{class}" cx="{}" cy="{y}" r="7"><title>{}: {} days</title></circle>"#,
                x_of(e.days_left),
                escape(&e.what),
                e.days_left
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_marks_placed_by_days() {
        let items = [Expiry {
            kind: Kind::Gdap,
            what: "<script>alert(1)</script> & \"x\"".into(),
            at: 0,
            days_left: 90,
            auto_extends: false,
        }];
        let svg = svg(&items, 10);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
        assert!(svg.contains(&format!(r#"cx="{}""#, x_of(90))));
        assert!(svg.contains("GDAP relationships (1)"));
        assert!(!svg.contains("style="));
    }
}
