//! The client's address, for rate limits: the TCP peer, or what a trusted
//! proxy says in `X-Forwarded-For`.
//!
//! The header is believed only when the peer is one of `TRUSTED_PROXIES`,
//! and then read from the right: each hop was appended by the proxy before
//! it, so the first address that is not itself a trusted proxy is the
//! client. Anything that is not an IP address ends the walk; a client can
//! prepend whatever it likes, but never get past the hops our proxies
//! appended. IPv6 clients are keyed by their /64, the block one host is
//! normally given, so rotating addresses inside it does not reset a limit.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and CIDR ranges.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{item}` is not an IP address or CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address given the TCP peer and the `X-Forwarded-For`
    /// header, if any.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for.unwrap_or_default().rsplit(',');
        for hop in hops {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// The key rate limits count a client under: the IPv4 address, or the
/// IPv6 /64 network.
pub fn rate_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => IpNet::new(IpAddr::V6(v6), 64)
            .expect("64 is a valid IPv6 prefix length")
            .trunc()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let forged = format!("1.2.3.4, {}", "x".repeat(8000));
        assert_eq!(
            proxies.client(ip("203.0.113.9"), Some(&forged)),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("127.0.0.1"), Some("1.2.3.4")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let proxies: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().unwrap();
        let peer = ip("127.0.0.1");
        assert_eq!(
            proxies.client(peer, Some("198.51.100.7")),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(peer, Some("6.6.6.6, 198.51.100.7, 10.1.2.3")),
            ip("198.51.100.7"),
            "a client-supplied left part is never reached"
        );
        assert_eq!(
            proxies.client(peer, Some("not an address")),
            peer,
            "garbage ends the walk at the last trusted hop"
        );
        assert_eq!(proxies.client(peer, None), peer);
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), Some("198.51.100.7")),
            ip("198.51.100.7"),
            "IPv4-mapped peers count as IPv4"
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(rate_key(ip("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
        assert_eq!(rate_key(ip("192.0.2.1")), "192.0.2.1");
    }
}
