//! OData query options as Graph implements them for the emulated collections: `$top`,
//! `$skiptoken` paging with an absolute `@odata.nextLink`, `$select`, and a small `$filter`
//! grammar (`prop eq 'v'`, `prop eq true`, `startswith(prop,'v')`, joined by `and`).

use super::GraphError;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde_json::{Map, Value};

/// Parsed query options.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// All parameters, in order.
    pub pairs: Vec<(String, String)>,
    /// `$top`.
    pub top: Option<usize>,
    /// Offset from `$skiptoken`.
    pub offset: usize,
    /// `$select`.
    pub select: Option<Vec<String>>,
    /// `$filter` clauses.
    pub filter: Vec<Clause>,
}

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`.
    Eq,
    /// `startswith(…)`.
    StartsWith,
}

/// One `$filter` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Property (path), as written.
    pub property: String,
    /// Operator.
    pub op: Op,
    /// Value (string literal unquoted, or `true` / `false`).
    pub value: String,
}

impl Clause {
    /// Whether `actual` satisfies the clause (case-insensitive, as Entra compares strings).
    pub fn matches(&self, actual: Option<&str>) -> bool {
        let Some(a) = actual else { return false };
        match self.op {
            Op::Eq => a.eq_ignore_ascii_case(&self.value),
            Op::StartsWith => a
                .to_ascii_lowercase()
                .starts_with(&self.value.to_ascii_lowercase()),
        }
    }
}

fn unsupported(property: &str, resource: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        format!(
            "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
        ),
    )
}

fn invalid_filter(filter: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Invalid filter clause: syntax error in '{filter}'."),
    )
}

fn parse_literal(s: &str) -> Option<String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        return Some(s.to_ascii_lowercase());
    }
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    // OData doubles a quote inside a literal.
    if inner.replace("''", "").contains('\'') {
        return None;
    }
    Some(inner.replace("''", "'"))
}

/// Split on ` and ` outside string literals.
fn split_and(filter: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_string = !in_string;
        }
        if !in_string
            && chars[i..]
                .iter()
                .take(5)
                .collect::<String>()
                .eq_ignore_ascii_case(" and ")
        {
            parts.push(std::mem::take(&mut current));
            i += 5;
            continue;
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

/// Parse `$filter` allowing only `allowed` properties of `resource`.
pub fn parse_filter(
    filter: &str,
    allowed: &[&str],
    resource: &str,
) -> Result<Vec<Clause>, GraphError> {
    let mut clauses = Vec::new();
    for part in split_and(filter) {
        let part = part.trim();
        let clause = if let Some(args) = part
            .strip_prefix("startswith(")
            .or_else(|| part.strip_prefix("startsWith("))
        {
            let args = args
                .strip_suffix(')')
                .ok_or_else(|| invalid_filter(filter))?;
            let (prop, lit) = args.split_once(',').ok_or_else(|| invalid_filter(filter))?;
            Clause {
                property: prop.trim().to_string(),
                op: Op::StartsWith,
                value: parse_literal(lit).ok_or_else(|| invalid_filter(filter))?,
            }
        } else {
            let mut it = part.splitn(3, ' ');
            let (Some(prop), Some(op), Some(lit)) = (it.next(), it.next(), it.next()) else {
                return Err(invalid_filter(filter));
            };
            if !op.eq_ignore_ascii_case("eq") {
                return Err(unsupported(prop, resource));
            }
            Clause {
                property: prop.to_string(),
                op: Op::Eq,
                value: parse_literal(lit).ok_or_else(|| invalid_filter(filter))?,
            }
        };
        if !allowed
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&clause.property))
        {
            return Err(unsupported(&clause.property, resource));
        }
        clauses.push(clause);
    }
    Ok(clauses)
}

/// Encode an offset as a `$skiptoken` (Graph's are opaque `X'…'` hex strings).
pub fn skiptoken(offset: usize) -> String {
    format!("X'{}'", hex::encode_upper(format!("offset:{offset}")))
}

fn parse_skiptoken(token: &str) -> Option<usize> {
    let hexed = token.strip_prefix("X'")?.strip_suffix('\'')?;
    let text = String::from_utf8(hex::decode(hexed).ok()?).ok()?;
    text.strip_prefix("offset:")?.parse().ok()
}

impl Query {
    /// Parse the request's query string. `max_top` bounds `$top`; `filterable` lists the
    /// properties `$filter` may use on `resource`.
    pub fn parse(
        req: &HttpRequest,
        max_top: usize,
        filterable: &[&str],
        resource: &str,
    ) -> Result<Query, GraphError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).map_err(|_| {
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The query string is malformed.",
                )
            })?;
        let mut q = Query {
            pairs: pairs.clone(),
            ..Query::default()
        };
        for (k, v) in &pairs {
            match k.as_str() {
                "$top" => {
                    let n: usize = v.parse().map_err(|_| {
                        GraphError::new(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            format!("Invalid value '{v}' for query option '$top'."),
                        )
                    })?;
                    if n == 0 || n > max_top {
                        return Err(GraphError::new(
                            StatusCode::BAD_REQUEST,
                            "Request_BadRequest",
                            format!(
                                "Invalid page size specified: '{n}'. Must be between 1 and {max_top} inclusive."
                            ),
                        ));
                    }
                    q.top = Some(n);
                }
                "$skiptoken" => {
                    q.offset = parse_skiptoken(v).ok_or_else(|| {
                        GraphError::new(
                            StatusCode::BAD_REQUEST,
                            "Request_BadRequest",
                            "The $skiptoken is invalid or expired.",
                        )
                    })?;
                }
                "$select" => {
                    q.select = Some(
                        v.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                }
                "$filter" => q.filter = parse_filter(v, filterable, resource)?,
                "$count" | "$orderby" | "$expand" | "$search" | "$format" => {}
                other if other.starts_with('$') => {
                    return Err(GraphError::new(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!(
                            "Query option '{other}' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings."
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether every filter clause matches, given a property getter.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.filter.iter().all(|c| c.matches(get(&c.property)))
    }

    /// The `@odata.nextLink` for the page after `next_offset`.
    pub fn next_link(&self, base_url: &str, next_offset: usize) -> String {
        let mut out = format!("{base_url}?");
        let mut first = true;
        for (k, v) in self.pairs.iter().filter(|(k, _)| k != "$skiptoken") {
            if !first {
                out.push('&');
            }
            first = false;
            out.push_str(k);
            out.push('=');
            out.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        }
        if !first {
            out.push('&');
        }
        out.push_str("$skiptoken=");
        out.extend(url::form_urlencoded::byte_serialize(
            skiptoken(next_offset).as_bytes(),
        ));
        out
    }

    /// Apply `$select` to an object: only the selected properties (unknown ones → 400).
    pub fn project(
        &self,
        obj: Map<String, Value>,
        known: &[&str],
        type_name: &str,
    ) -> Result<Value, GraphError> {
        let Some(select) = &self.select else {
            return Ok(Value::Object(obj));
        };
        let mut out = Map::new();
        for s in select {
            let Some(name) = known.iter().find(|k| k.eq_ignore_ascii_case(s)) else {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    format!(
                        "Could not find a property named '{s}' on type 'microsoft.graph.{type_name}'."
                    ),
                ));
            };
            out.insert(
                (*name).to_string(),
                obj.get(*name).cloned().unwrap_or(Value::Null),
            );
        }
        Ok(Value::Object(out))
    }
}

/// A page of results: items, and the offset of the next page when there is one.
pub fn page<T>(
    items: impl Iterator<Item = T>,
    offset: usize,
    top: usize,
) -> (Vec<T>, Option<usize>) {
    let mut out: Vec<T> = items.skip(offset).take(top + 1).collect();
    let more = out.len() > top;
    out.truncate(top);
    (out, more.then_some(offset + top))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_with_and_quotes_and_startswith() {
        let c = parse_filter(
            "displayName eq 'O''Neil' and startswith(userPrincipalName,'adm')",
            &["displayName", "userPrincipalName"],
            "User",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].value, "O'Neil");
        assert_eq!(c[1].op, Op::StartsWith);
        assert!(c[1].matches(Some("Admin@x")));
        let e = parse_filter("jobTitle eq 'x'", &["displayName"], "User").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert!(parse_filter("displayName eq 'unterminated", &["displayName"], "User").is_err());
    }

    #[test]
    fn skiptokens_round_trip_and_pages_end() {
        assert_eq!(parse_skiptoken(&skiptoken(42)), Some(42));
        assert_eq!(parse_skiptoken("X'zz'"), None);
        let (items, next) = page(0..10, 0, 4);
        assert_eq!((items, next), (vec![0, 1, 2, 3], Some(4)));
        let (items, next) = page(0..10, 8, 4);
        assert_eq!((items, next), (vec![8, 9], None));
    }
}
