//! Which address a request comes from. Behind the gateway every TCP peer is the
//! gateway, so the login throttle would key every client on one address; the gateway's
//! `X-Forwarded-For` names the real client, but anyone can send that header, so it is
//! believed only when the TCP peer is a proxy the operator listed as trusted.

use std::{net::IpAddr, str::FromStr};

use ipnet::IpNet;
use poem::Request;

pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The networks whose `X-Forwarded-For` is believed (`FOLIO_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

#[derive(Debug, thiserror::Error)]
#[error("trusted proxy {entry:?} is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8)")]
pub struct TrustedProxyError {
    pub entry: String,
    #[source]
    pub source: ipnet::AddrParseError,
}

impl TrustedProxies {
    /// CIDR networks or single addresses (a bare address trusts just that host).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, TrustedProxyError> {
        entries
            .iter()
            .map(|entry| entry.as_ref().trim())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNet::from_str(entry)
                    .or_else(|e| IpAddr::from_str(entry).map(IpNet::from).map_err(|_| e))
                    .map_err(|source| TrustedProxyError {
                        entry: entry.to_string(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a request that arrived from `peer` carrying `forwarded_for`.
    ///
    /// The header is read only when the peer is trusted, and then from the right: each
    /// hop appends the address it received from, so the rightmost entry that is not
    /// itself a trusted proxy is the first address nobody we trust could have made up.
    /// An unreadable entry stops the walk at the last hop we trust.
    pub fn resolve(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for entry in header.rsplit(',').map(str::trim) {
            let Ok(hop) = IpAddr::from_str(entry) else {
                return client;
            };
            client = hop.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// The address the login throttle keys on; `unknown` for a peer without an IP address
/// (a Unix socket).
pub fn client_address(req: &Request, trusted: &TrustedProxies) -> String {
    let Some(peer) = req.remote_addr().as_socket_addr().map(|addr| addr.ip()) else {
        return "unknown".to_string();
    };
    // Several headers are joined the way a single list would read.
    let forwarded: Vec<&str> = req
        .headers()
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    trusted.resolve(peer, forwarded.as_deref()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_forged_header_from_an_untrusted_peer_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.resolve(ip("203.0.113.9"), Some("1.2.3.4")), ip("203.0.113.9"));
        let gateway_only = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            gateway_only.resolve(ip("203.0.113.9"), Some("10.0.0.1, 1.2.3.4")),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_the_client_is_the_rightmost_untrusted_hop() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1"]).unwrap();
        assert_eq!(
            trusted.resolve(ip("127.0.0.1"), Some("198.51.100.7")),
            ip("198.51.100.7")
        );
        // The client forged its own first entry; the gateway appended the real address.
        assert_eq!(
            trusted.resolve(ip("10.1.2.3"), Some("6.6.6.6, 198.51.100.7, 10.9.9.9")),
            ip("198.51.100.7")
        );
        // No header, or only proxies in it: the nearest proxy is all we know.
        assert_eq!(trusted.resolve(ip("10.1.2.3"), None), ip("10.1.2.3"));
        assert_eq!(trusted.resolve(ip("10.1.2.3"), Some("10.4.4.4")), ip("10.4.4.4"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            trusted.resolve(ip("10.1.2.3"), Some("198.51.100.7, not-an-ip")),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let trusted = TrustedProxies::parse(&["127.0.0.0/8"]).unwrap();
        assert_eq!(
            trusted.resolve(ip("::ffff:127.0.0.1"), Some("192.0.2.1")),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/8", "gateway"]).unwrap_err();
        assert!(err.to_string().contains("\"gateway\""));
        assert_eq!(TrustedProxies::parse::<&str>(&[]).unwrap(), TrustedProxies::default());
    }
}
