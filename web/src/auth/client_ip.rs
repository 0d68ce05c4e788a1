//! The address a request came from. `X-Forwarded-For` is believed only when
//! the direct peer is a configured proxy; then the client is the right-most
//! address not itself a trusted proxy (the left part of the header is
//! whatever the client chose to send).

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use ipnet::IpNet;
use std::future::{Ready, ready};
use std::net::IpAddr;

/// The client's address, as far as we can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn as_string(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

fn trusted(ip: &IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|p| p.contains(ip))
}

/// Resolves the client address of a request from its peer and headers.
pub fn resolve(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted(&peer, proxies) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in header.rsplit(',').map(str::trim) {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted(&ip, proxies) {
            break;
        }
    }
    Some(client)
}

/// Computes the client address once per request (request extensions).
pub fn attach(req: &ServiceRequest, proxies: &[IpNet]) -> ClientIp {
    let peer = req.peer_addr().map(|a| a.ip());
    let xff = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = ClientIp(resolve(peer, xff, proxies));
    req.extensions_mut().insert(ip);
    ip
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .copied()
            .unwrap_or_else(|| ClientIp(req.peer_addr().map(|a| a.ip())));
        ready(Ok(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ignores_the_header_from_untrusted_peers() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), Some("1.2.3.4"), &proxies),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), Some("1.2.3.4"), &[]),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn takes_the_rightmost_untrusted_hop_behind_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client forged the first entry; nginx appended the real one.
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                Some("6.6.6.6, 198.51.100.7"),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
        // Two proxies in a row.
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                Some("198.51.100.7, 10.0.0.3"),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
        // No header: the proxy itself.
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), None, &proxies),
            Some(ip("10.0.0.2"))
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                Some("nonsense, 198.51.100.7"),
                &proxies
            ),
            Some(ip("198.51.100.7"))
        );
    }
}
