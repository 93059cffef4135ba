//! The client's address, for the rate limits: the TCP peer, or — behind reverse proxies the
//! configuration trusts — the address those proxies forwarded.
//!
//! Each proxy appends the address it received the request from, so the chain reads
//! `client, proxy1, …, proxyN` (`X-Forwarded-For`) or `for=client, for=proxy1, …` (`Forwarded`,
//! RFC 7239 §5.2), and the TCP peer is the last proxy. Walking from the right, every address that
//! is a trusted proxy (by `consent.trusted_proxies`, or by position: the first
//! `consent.trusted_proxy_hops` from the right) is skipped; the first one that is not is the client.
//! Only the part of the chain written by trusted proxies is believed: a client can put anything on
//! the left, but it cannot make an untrusted hop look trusted. When the chain runs out, or holds
//! something that is not an address (`unknown`, an obfuscated `_id`), the last trusted address
//! is used — the most conservative choice: those requests share that proxy's budget.
//!
//! With nothing trusted (the default) the peer is the client, whatever the headers say.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// Which proxies forward the client's address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Proxies trusted by address or network.
    pub networks: Vec<IpNet>,
    /// Hops trusted by position from the right, whatever their addresses.
    pub hops: u32,
}

impl TrustedProxies {
    /// Whether nothing is trusted (the peer is always the client).
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty() && self.hops == 0
    }

    fn trusts(&self, position: usize, ip: IpAddr) -> bool {
        u32::try_from(position).is_ok_and(|p| p < self.hops)
            || self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer` carrying `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.is_empty() {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("forwarded")
            .filter_map(|v| v.to_str().ok())
            .collect();
        let chain = if forwarded.is_empty() {
            let xff: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .collect();
            x_forwarded_for(&xff)
        } else {
            forwarded_for(&forwarded)
        };
        self.walk(peer, &chain)
    }

    /// The walk over `chain` (left to right, as the headers list it; `None`: not an address).
    pub fn walk(&self, peer: IpAddr, chain: &[Option<IpAddr>]) -> IpAddr {
        let mut current = peer;
        let mut position = 0usize;
        let mut left = chain.iter().rev();
        while self.trusts(position, current) {
            match left.next() {
                Some(Some(next)) => {
                    current = *next;
                    position += 1;
                }
                // Out of chain, or a hop that is not an address: keep the last trusted one.
                Some(None) | None => break,
            }
        }
        current
    }
}

/// The addresses of `X-Forwarded-For` header lines, in order.
pub fn x_forwarded_for(lines: &[&str]) -> Vec<Option<IpAddr>> {
    lines
        .iter()
        .flat_map(|line| line.split(','))
        .map(|item| address(item.trim()))
        .collect()
}

/// The `for=` addresses of `Forwarded` header lines (RFC 7239), in order; an element without
/// `for=` counts as a hop that is not an address.
pub fn forwarded_for(lines: &[&str]) -> Vec<Option<IpAddr>> {
    lines
        .iter()
        .flat_map(|line| line.split(','))
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| address(value.trim().trim_matches('"')))
                    .flatten()
            })
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn address(item: &str) -> Option<IpAddr> {
    if let Ok(ip) = item.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = item.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    item.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|v6| v6.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &'static str, lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(
                actix_web::http::header::HeaderName::from_static(name),
                l.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn nothing_trusted_means_the_peer_whatever_the_headers() {
        let t = TrustedProxies::default();
        let h = headers("x-forwarded-for", &["198.51.100.7"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn one_trusted_hop_takes_the_address_the_ingress_saw() {
        let t = TrustedProxies {
            networks: vec![],
            hops: 1,
        };
        // The client spoofs a first entry; the ingress appends what it saw.
        let h = headers("x-forwarded-for", &["1.2.3.4, 198.51.100.7"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn trusted_networks_are_skipped_from_the_right() {
        let t = TrustedProxies {
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            hops: 0,
        };
        let h = headers(
            "x-forwarded-for",
            &["203.0.113.9", "198.51.100.7, 10.2.3.4"],
        );
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // A peer outside the trusted networks is the client, whatever it forwards.
        assert_eq!(t.client(ip("192.0.2.1"), &h), ip("192.0.2.1"));
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6() {
        let t = TrustedProxies {
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            hops: 0,
        };
        let h = headers(
            "forwarded",
            &["for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\""],
        );
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &["for=\"192.0.2.43:47011\";by=10.0.0.1"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("192.0.2.43"));
    }

    #[test]
    fn an_unknown_or_missing_hop_keeps_the_last_trusted_address() {
        let t = TrustedProxies {
            networks: vec![],
            hops: 2,
        };
        let h = headers("forwarded", &["for=unknown, for=_hidden"]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        let h = headers("x-forwarded-for", &[]);
        assert_eq!(t.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    proptest! {
        /// Whatever the headers hold, the answer is the peer or an address they name, and never
        /// panics; with nothing trusted it is the peer.
        #[test]
        fn any_header_value_gives_the_peer_or_a_named_address(
            xff in "[0-9a-f.:, \\[\\]_\";=A-Za-z]{0,80}",
            fwd in "[0-9a-f.:, \\[\\]_\";=A-Za-z]{0,80}",
            hops in 0u32..4,
        ) {
            let peer = ip("10.0.0.1");
            let mut h = HeaderMap::new();
            if let Ok(v) = xff.parse() {
                h.append(actix_web::http::header::HeaderName::from_static("x-forwarded-for"), v);
            }
            if let Ok(v) = fwd.parse() {
                h.append(actix_web::http::header::HeaderName::from_static("forwarded"), v);
            }
            let none = TrustedProxies::default();
            prop_assert_eq!(none.client(peer, &h), peer);
            let t = TrustedProxies { networks: vec!["10.0.0.0/8".parse().unwrap()], hops };
            let got = t.client(peer, &h);
            let named = x_forwarded_for(&[xff.as_str()])
                .into_iter()
                .chain(forwarded_for(&[fwd.as_str()]))
                .flatten()
                .any(|a| a == got);
            prop_assert!(got == peer || named, "{got} from {xff:?} / {fwd:?}");
        }
    }
}
