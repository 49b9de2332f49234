//! The client's address. Behind a reverse proxy the socket's peer is the proxy; the client is
//! named in `Forwarded` (RFC 7239) or `X-Forwarded-For`, which anyone can send. They are read
//! only when the peer is a trusted proxy (`WANGGE_TRUSTED_PROXIES`), from the right, skipping
//! trusted hops: the first untrusted address is the client. Rate limits, login throttling and
//! the audit log all use this one address.

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The address the request is attributed to, set once per request by the telemetry middleware.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// The hops a request names, oldest first: `Forwarded: for=` when present, else
/// `X-Forwarded-For`. Unparseable entries (obfuscated names, `unknown`) end the chain there.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_node(v))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| parse_node(s.trim()))
        .collect()
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `198.51.100.7:80`.
fn parse_node(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    v.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// The client's address for a request from `peer` with these headers.
#[must_use]
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return ip,
            None => return client,
        }
    }
    client
}

/// The request's client address as text, for logs and the audit log.
#[must_use]
pub fn address(req: &HttpRequest) -> String {
    use actix_web::HttpMessage as _;
    req.extensions()
        .get::<ClientAddr>()
        .map(|c| c.0.to_string())
        .or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_trusted_peers_may_name_the_client() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.1.1")]);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(
            resolve(proxy, &xff, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            resolve(stranger, &xff, &proxies),
            stranger,
            "spoofing ignored"
        );
        // A client that prepends its own entry is not believed beyond the first untrusted hop.
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(
            resolve(proxy, &spoof, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let fwd = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(
            resolve(proxy, &fwd, &proxies),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(proxy, &HeaderMap::new(), &proxies), proxy);
    }
}
